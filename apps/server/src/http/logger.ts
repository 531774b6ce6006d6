/**
 * The server's logger: pino writing asynchronously to stdout, as JSON lines
 * or (LOG_FORMAT=pretty) one human line each, with API keys redacted.
 */
import pino, { type Logger } from 'pino';
import type { ServerConfig } from '../config.ts';
import { chooseLogFormat, colorsFor, prettyStream } from '../log-format.ts';
import { redactUrl } from '../security-headers.ts';

export function createLogger(config: Pick<ServerConfig, 'logLevel' | 'logFormat'>): { logger: Logger; destination: { flushSync(): void } } {
  // Log lines are written asynchronously: a synchronous write to a full pipe or a slow terminal would block the
  // event loop (measured: pino's atomic-sleep was 40% of a 404's CPU with two lines a request at info).
  const destination = pino.destination({ dest: 1, sync: false });
  // JSON lines, or on a terminal (LOG_FORMAT=pretty) one human line each, made from the redacted JSON line.
  const format = chooseLogFormat(config.logFormat);
  const logger = pino(
    {
      level: config.logLevel,
      redact: { paths: ['req.headers["x-api-key"]', 'req.headers.authorization'], censor: '[redacted]' },
      // A request as logged (Fastify logs it with "incoming request", before any hook runs): its URL redacted. On the
      // root logger, which Fastify's per-request children inherit as they are (a child with serializers of its own cost
      // 0.2 ms a request, measured).
      serializers: {
        req: (req: { method?: string; url?: string; host?: string; hostname?: string; ip?: string; socket?: { remotePort?: number } }) => ({
          method: req.method,
          url: redactUrl(req.url ?? ''),
          host: req.host ?? req.hostname,
          remoteAddress: req.ip,
          remotePort: req.socket?.remotePort,
        }),
      },
      hooks: {
        // Fastify's own "Server listening at …" goes to debug: main.ts says where, with the database and the admin key.
        logMethod(args, method, level) {
          if (level === 30 && typeof args[0] === 'string' && args[0].startsWith('Server listening at ')) return this.debug(args[0]);
          return method.apply(this, args);
        },
      },
    },
    format === 'pretty' ? prettyStream(destination, { colors: colorsFor(1) }) : destination,
  );
  return { logger, destination };
}

/** Writes what is still buffered (at shutdown). */
export function flushLog(destination: { flushSync(): void }): void {
  try {
    destination.flushSync();
  } catch {
    // not open yet, or already closed
  }
}

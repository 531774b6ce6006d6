import { randomUUID } from 'node:crypto';
import { MAX_WAIT_SECONDS } from '@aitbc/core';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import pino from 'pino';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { appRouter, type AppRouter } from './routers/index.ts';
import type { Context } from './trpc.ts';
import type { Database } from './db/database.ts';
import type { EventBus } from './events.ts';
import type { AgentPresence } from './agents/presence.ts';
import type { HeartbeatBuffer } from './swarms/heartbeats.ts';
import type { WorkEngine } from './work/engine.ts';
import type { Waiters } from './work/waiters.ts';
import { JoinBatcher } from './swarms/joins.ts';
import { ApiKeyAuthenticator } from './auth/api-keys.ts';
import rateLimit from './rate-limit.ts';
import securityHeaders, { redactUrl } from './security-headers.ts';
import { checkHealth } from './health.ts';
import { unavailableBody, unavailablePlugin } from './unavailable.ts';
import type { Clock } from './clock.ts';
import { openApiDocument, successStatuses } from './openapi.ts';
import { metricsPlugin } from './metrics.ts';
import { requestTrace, tracingPlugin } from './tracing.ts';
import { restPlugin } from './rest.ts';
import { webPlugin } from './web.ts';
import type { ServerConfig } from './config.ts';
import { chooseLogFormat, colorsFor, prettyStream } from './log-format.ts';

const HTTP_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_SUPPORTED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE_CONTENT',
  429: 'TOO_MANY_REQUESTS',
};

/**
 * How long a request asked to be held (`wait_seconds`: a claim waiting for work, a task status waiting for
 * the end), in ms: REST has it in the query or the parsed body; tRPC in its body text (batched: in each
 * call) or in `?input=`.
 */
function waitAllowedMs(query: unknown, body: unknown): number {
  let seconds = 0;
  const look = (input: unknown, depth: number) => {
    if (typeof input === 'string') {
      if (!input.includes('wait_seconds')) return;
      try {
        input = JSON.parse(input);
      } catch {
        return; // not JSON: the request failed validation, quickly
      }
    }
    if (input === null || typeof input !== 'object') return;
    const wait = Number((input as { wait_seconds?: unknown }).wait_seconds);
    if (Number.isFinite(wait)) seconds = Math.max(seconds, wait);
    else if (depth > 0) for (const v of Object.values(input)) look(v, depth - 1);
  };
  look(body, 1);
  look(query, 0);
  look((query as { input?: unknown } | undefined)?.input, 1);
  return Math.min(seconds, MAX_WAIT_SECONDS) * 1000;
}

const isEventStream = (type: unknown) => typeof type === 'string' && type.startsWith('text/event-stream');

export interface AppOptions {
  config: Pick<
    ServerConfig,
    | 'adminApiKeys'
    | 'bodyLimit'
    | 'logLevel'
    | 'logFormat'
    | 'rateLimit'
    | 'corsOrigins'
    | 'metricsEnabled'
    | 'webDir'
    | 'slowRequestMs'
    | 'keyUsageFlushMs'
  >;
  db: Database;
  clock: Clock;
  events: EventBus;
  heartbeats: HeartbeatBuffer;
  work: WorkEngine;
  taskWaiters: Waiters;
  agents: AgentPresence;
}

/**
 * The HTTP surface: tRPC at /trpc, the same procedures as REST at their
 * OpenAPI paths, the document at /openapi.json, docs at /docs, and /healthz.
 * Every error, ours or Fastify's, answers as JSON `{ code, message }`.
 */
export async function buildApp({ config, db, clock, events, heartbeats, work, taskWaiters, agents }: AppOptions): Promise<FastifyInstance> {
  // Log lines are written asynchronously: a synchronous write to a full pipe or a slow terminal would block the
  // event loop (measured: pino's atomic-sleep was 40% of a 404's CPU with two lines a request at info).
  const destination = pino.destination({ dest: 1, sync: false });
  // JSON lines, or on a terminal (LOG_FORMAT=pretty) one human line each, made from the redacted JSON line.
  const format = chooseLogFormat(config.logFormat);
  const logger = pino(
    {
      level: config.logLevel,
      redact: { paths: ['req.headers["x-api-key"]', 'req.headers.authorization'], censor: '[redacted]' },
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
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Not two lines a request: workers poll and heartbeat all the time. See the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    routerOptions: { ignoreTrailingSlash: true },
    // The spec mounts the swarm API under /v1 as well: /v1/swarm/* is /swarm/*.
    rewriteUrl: (req) => (req.url?.startsWith('/v1/swarm/') ? req.url.slice(3) : (req.url ?? '/')),
    // Requests Node's HTTP parser refuses (a URL or headers over 16 KiB, garbage) answer JSON like the rest.
    clientErrorHandler: (err: Error & { code?: string }, socket) => {
      if (!socket.writable) return socket.destroy();
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const body = JSON.stringify(
        tooLarge
          ? { code: 'REQUEST_HEADER_FIELDS_TOO_LARGE', message: 'The URL or headers are too large (16 KiB at most)' }
          : { code: 'BAD_REQUEST', message: 'Malformed HTTP request' },
      );
      socket.end(
        `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  });
  const auth = new ApiKeyAuthenticator(db, config.adminApiKeys, undefined, config.keyUsageFlushMs);
  const joins = new JoinBatcher(db);
  // What other instances did that this one caches: revoked keys, members that left, changed thresholds.
  const unsubscribe = events.subscribe((e) => {
    if (e.kind === 'key.revoked' || e.kind === 'key.changed') auth.forget(e.key_id);
    else if (e.kind === 'member.left') heartbeats.forget(e.member_id);
    else if (e.kind === 'swarm.changed') {
      heartbeats.thresholdsChanged(e.swarm_id);
      joins.forgetSwarm(e.swarm_id);
    } else if (e.kind === 'bus.reconnected') {
      // Events were missed while the bus was not listening: forget everything they would have invalidated.
      auth.forgetAll();
      heartbeats.forgetAll();
      joins.forgetAll();
    }
  });
  app.addHook('onClose', async () => {
    unsubscribe();
    await auth.close();
    try {
      destination.flushSync();
    } catch {
      // not open yet, or already closed
    }
  });
  // One line per request only at debug; at info, only requests slower than AITBC_SLOW_REQUEST_MS (errors log themselves).
  // A long poll is slow only past the wait it asked for, and a live stream (SSE) never: idle workers wait all day.
  const slowMs = config.slowRequestMs ?? 1000;
  app.addHook('onResponse', async (req, reply) => {
    const ms = reply.elapsedTime;
    if (ms >= slowMs && ms >= slowMs + waitAllowedMs(req.query, req.body) && !isEventStream(reply.getHeader('content-type')))
      req.log.warn({ method: req.method, url: redactUrl(req.url), status: reply.statusCode, ms: Math.round(ms) }, 'slow request');
    else if (logger.isLevelEnabled('debug'))
      req.log.debug({ method: req.method, url: redactUrl(req.url), status: reply.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
  });
  // Security headers (and CORS when AITBC_CORS_ORIGINS is set), then rate limits: before every route.
  await app.register(securityHeaders, { corsOrigins: config.corsOrigins ?? [] });
  await app.register(unavailablePlugin, { availability: db.availability });
  if (config.rateLimit)
    await app.register(rateLimit, {
      ...config.rateLimit,
      isValidKey: async (key) => (await auth.authenticate(key)).principal !== undefined,
    });
  // Before every route, so each request is measured. AITBC_METRICS=off removes /metrics.
  await app.register(metricsPlugin, { db, auth, outcomes: work.outcomes, enabled: config.metricsEnabled ?? true });
  await app.register(tracingPlugin, { tracing: work.tracing });

  const createContext = ({
    req,
  }: {
    req: { id: string; ip: string; headers: Record<string, string | string[] | undefined>; log: Context['log'] };
  }): Context => {
    const header = req.headers['x-api-key'];
    return {
      db,
      clock,
      work,
      taskWaiters,
      agents,
      auth,
      events,
      heartbeats,
      joins,
      apiKey: Array.isArray(header) ? header[0] : header,
      requestId: req.id,
      ip: req.ip,
      trace: requestTrace(req),
      log: req.log,
    };
  };
  const onError = ({ error, ctx, path }: { error: { code: string; cause?: unknown }; ctx?: Context; path?: string }) => {
    if (error.code === 'INTERNAL_SERVER_ERROR') ctx?.log.error({ err: error.cause ?? error, path }, 'procedure failed');
  };

  // Every answer names its request, so a user's report can be found in the log.
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  app.setErrorHandler((err: { statusCode?: number; message: string }, req, reply) => {
    // The database down or read-only (a rate limit's key lookup, say): 503 with Retry-After, not 500.
    const unavailable = unavailableBody(err);
    if (unavailable) return reply.code(503).send(unavailable);
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err, method: req.method, url: redactUrl(req.url) }, 'request failed');
    const message =
      status === 413
        ? `Request body too large (limit ${config.bodyLimit} bytes; set AITBC_BODY_LIMIT to change it)`
        : status >= 500
          ? `Internal server error (request ${req.id})`
          : err.message;
    return reply.code(status).send({ code: HTTP_CODES[status] ?? (status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST'), message });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ code: 'NOT_FOUND', message: `No route for ${req.method} ${req.url.split('?')[0]}` }),
  );

  app.get('/healthz', async (_req, reply) => {
    const health = await checkHealth(db);
    return reply.code(health.status === 'ok' ? 200 : 503).send(health);
  });

  const statuses = successStatuses(appRouter);
  const document = openApiDocument(appRouter, statuses);
  app.get('/openapi.json', async () => document);
  await app.register(swagger, { mode: 'static', specification: { document: document as never } });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: { router: appRouter, createContext, onError } satisfies FastifyTRPCPluginOptions<AppRouter>['trpcOptions'],
  });

  await app.register(restPlugin, { router: appRouter, createContext: (req) => createContext({ req }), onError, statuses });

  // The operators' dashboard at / (apps/web/dist, or AITBC_WEB_DIR).
  await app.register(webPlugin, { dir: config.webDir });

  return app;
}

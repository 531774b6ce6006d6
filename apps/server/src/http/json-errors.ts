/**
 * Every error, ours or Fastify's, answers as JSON `{ code, message }`: a
 * route's error, a path with no route, and a request Node's HTTP parser
 * refused before Fastify saw it.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { redactUrl } from '../security-headers.ts';
import { unavailableBody } from '../unavailable.ts';

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

/** Fastify's clientErrorHandler: requests Node's HTTP parser refuses (a URL or headers over 16 KiB, garbage). */
export const answerClientError = (err: Error & { code?: string }, socket: Socket) => {
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
};

/** The error and not-found handlers: JSON, and a 5xx logged with its request (the answer names only the request id). */
export function answerErrorsAsJson(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((err: { statusCode?: number; message: string }, req, reply) => {
    // The database down or read-only (a rate limit's key lookup, say): 503 with Retry-After, not 500.
    const unavailable = unavailableBody(err);
    if (unavailable) return reply.code(503).send(unavailable);
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err, method: req.method, url: redactUrl(req.url) }, 'request failed');
    const message =
      status === 413
        ? `Request body too large (limit ${bodyLimit} bytes; set AITBC_BODY_LIMIT to change it)`
        : status >= 500
          ? `Internal server error (request ${req.id})`
          : err.message;
    return reply.code(status).send({ code: HTTP_CODES[status] ?? (status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST'), message });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ code: 'NOT_FOUND', message: `No route for ${req.method} ${req.url.split('?')[0]}` }),
  );
}

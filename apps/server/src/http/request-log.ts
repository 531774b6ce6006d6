/**
 * Request logging: not two lines a request (workers poll and heartbeat all
 * the time), only slow ones, or every one at debug.
 */
import { MAX_WAIT_SECONDS } from '@aitbc/core';
import type { FastifyInstance } from 'fastify';
import { redactUrl } from '../security-headers.ts';

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

/** The onResponse hook that logs requests (`logger`: the root logger, asked whether debug is on). */
export function logRequests(app: FastifyInstance, logger: { isLevelEnabled(level: string): boolean }, slowRequestMs?: number): void {
  // One line per request only at debug; at info, only requests slower than AITBC_SLOW_REQUEST_MS (errors log themselves).
  // A long poll is slow only past the wait it asked for, and a live stream (SSE) never: idle workers wait all day.
  const slowMs = slowRequestMs ?? 1000;
  app.addHook('onResponse', async (req, reply) => {
    const ms = reply.elapsedTime;
    if (ms >= slowMs && ms >= slowMs + waitAllowedMs(req.query, req.body) && !isEventStream(reply.getHeader('content-type')))
      req.log.warn({ method: req.method, url: redactUrl(req.url), status: reply.statusCode, ms: Math.round(ms) }, 'slow request');
    else if (logger.isLevelEnabled('debug'))
      req.log.debug({ method: req.method, url: redactUrl(req.url), status: reply.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
  });
}

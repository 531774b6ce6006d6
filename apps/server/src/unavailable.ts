/**
 * Requests the database could not serve: 503 with Retry-After and a JSON
 * body that says why, never a 500. The database unreachable (restarting,
 * failing over, a cut connection) or read-only (a standby, maintenance)
 * did nothing with the request, so sending it again later is safe; clients
 * and workers retry 503s (the worker SDK does, with backoff).
 *
 * tRPC and REST map the errors in trpc.ts (SERVICE_UNAVAILABLE); errors
 * raised outside a procedure (a rate limit's key lookup) reach the app's
 * error handler, which asks `unavailableBody`. Whichever answered 503, the
 * hook below adds Retry-After.
 */
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Availability } from './db/availability.ts';
import { type DatabaseFault, databaseFault } from './db/faults.ts';

export function unavailableMessage(fault: DatabaseFault): string {
  return fault === 'read-only'
    ? 'The database is read-only (a failover or maintenance) and takes no writes now; nothing was changed. Retry shortly'
    : 'The database is unreachable (restarting or failing over?); nothing was changed. Retry shortly';
}

/** The JSON body of a 503 for a database fault, or null when `error` is not one. */
export function unavailableBody(error: unknown): { code: 'SERVICE_UNAVAILABLE'; message: string } | null {
  const fault = databaseFault(error);
  return fault ? { code: 'SERVICE_UNAVAILABLE', message: unavailableMessage(fault) } : null;
}

const unavailable: FastifyPluginAsync<{ availability: Availability }> = async (app, { availability }) => {
  app.addHook('onSend', async (_req, reply, payload) => {
    // tRPC's adapter sends a fetch Response, whose status Fastify applies after this hook.
    const status = payload instanceof Response ? payload.status : reply.statusCode;
    if (status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', String(availability.retryAfterSeconds()));
    return payload;
  });
};

/** Registered at the root (fastify-plugin): every 503 carries Retry-After. */
export const unavailablePlugin = fp(unavailable, { name: 'aitbc-unavailable', fastify: '5.x' });

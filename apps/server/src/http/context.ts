/**
 * What each tRPC and REST procedure is handed (trpc.ts Context): the
 * server's collaborators, the API key authenticator and the join batcher
 * (kept in step with what other instances change), and the request's own
 * key, id, address, trace and logger.
 */
import type { AgentPresence } from '../agents/presence.ts';
import { ApiKeyAuthenticator } from '../auth/api-keys.ts';
import type { ServerConfig } from '../config.ts';
import type { Clock } from '../clock.ts';
import { DEFAULT_REQUESTS_RUNNING, DEFAULT_REQUESTS_RUNNING_PER_OWNER, RequestTurns } from '../db/admission.ts';
import type { Database } from '../db/database.ts';
import type { EventBus } from '../events.ts';
import type { HeartbeatBuffer } from '../swarms/heartbeats.ts';
import { JoinBatcher } from '../swarms/joins.ts';
import { requestTrace } from '../tracing.ts';
import type { Context } from '../trpc.ts';
import type { WorkEngine } from '../work/engine.ts';
import type { Waiters } from '../work/waiters.ts';

export interface ContextDeps {
  db: Database;
  clock: Clock;
  events: EventBus;
  heartbeats: HeartbeatBuffer;
  work: WorkEngine;
  taskWaiters: Waiters;
  agents: AgentPresence;
}

/** The request as a context is made from it (a Fastify request, for tRPC and REST alike). */
export interface ContextRequest {
  id: string;
  ip: string;
  headers: Record<string, string | string[] | undefined>;
  log: Context['log'];
}

export function procedureContexts(
  { db, clock, events, heartbeats, work, taskWaiters, agents }: ContextDeps,
  config: Pick<ServerConfig, 'adminApiKeys' | 'keyUsageFlushMs' | 'requestsRunning' | 'requestsRunningPerOwner'>,
): { auth: ApiKeyAuthenticator; unsubscribe: () => void; createContext: (opts: { req: ContextRequest }) => Context } {
  const auth = new ApiKeyAuthenticator(db, config.adminApiKeys, undefined, config.keyUsageFlushMs);
  const joins = new JoinBatcher(db);
  const turns = new RequestTurns(
    config.requestsRunning ?? DEFAULT_REQUESTS_RUNNING,
    config.requestsRunningPerOwner ?? DEFAULT_REQUESTS_RUNNING_PER_OWNER,
  );
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
  const createContext = ({ req }: { req: ContextRequest }): Context => {
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
      turns,
      apiKey: Array.isArray(header) ? header[0] : header,
      idempotencyKey: [req.headers['idempotency-key']].flat()[0],
      requestId: req.id,
      ip: req.ip,
      trace: requestTrace(req),
      log: req.log,
    };
  };
  return { auth, unsubscribe, createContext };
}

/** A procedure that failed unexpectedly is logged with its request; the rest are the caller's to read. */
export const onProcedureError = ({ error, ctx, path }: { error: { code: string; cause?: unknown }; ctx?: Context; path?: string }) => {
  if (error.code === 'INTERNAL_SERVER_ERROR') ctx?.log.error({ err: error.cause ?? error, path }, 'procedure failed');
};

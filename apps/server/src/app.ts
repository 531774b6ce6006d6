import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { appRouter } from './routers/index.ts';
import type { Database } from './db/database.ts';
import type { EventBus } from './events.ts';
import type { AgentPresence } from './agents/presence.ts';
import type { HeartbeatBuffer } from './swarms/heartbeats.ts';
import type { WorkEngine } from './work/engine.ts';
import type { Waiters } from './work/waiters.ts';
import rateLimit from './rate-limit.ts';
import securityHeaders from './security-headers.ts';
import { openApiDocument, successStatuses } from './openapi.ts';
import { metricsPlugin } from './metrics.ts';
import { unavailablePlugin } from './unavailable.ts';
import type { Clock } from './clock.ts';
import { tracingPlugin } from './tracing.ts';
import { webPlugin } from './web.ts';
import type { ServerConfig } from './config.ts';
import { onProcedureError, procedureContexts } from './http/context.ts';
import { serveDocs, serveHealth } from './http/docs.ts';
import { answerClientError, answerErrorsAsJson } from './http/json-errors.ts';
import { createLogger, flushLog } from './http/logger.ts';
import { mountProcedures } from './http/procedures.ts';
import { logRequests } from './http/request-log.ts';

/**
 * How Fastify's router matches paths: a trailing slash is the same path, and a path parameter may be as long as
 * the longest id it carries (a task_id: 200 characters; Fastify's default of 100 answered 414 for a valid one).
 */
export const ROUTER_OPTIONS = { ignoreTrailingSlash: true, maxParamLength: 200 };

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
    | 'requestsRunning'
    | 'requestsRunningPerOwner'
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
 *
 * The parts (http/) are added to this one instance in this order, not as
 * encapsulated plugins: every hook and handler applies to every route.
 */
export async function buildApp({ config, db, clock, events, heartbeats, work, taskWaiters, agents }: AppOptions): Promise<FastifyInstance> {
  const { logger, destination } = createLogger(config);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Not two lines a request: workers poll and heartbeat all the time. See logRequests below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    routerOptions: ROUTER_OPTIONS,
    // The spec mounts the swarm API under /v1 as well: /v1/swarm/* is /swarm/*.
    rewriteUrl: (req) => (req.url?.startsWith('/v1/swarm/') ? req.url.slice(3) : (req.url ?? '/')),
    // Requests Node's HTTP parser refuses (a URL or headers over 16 KiB, garbage) answer JSON like the rest.
    clientErrorHandler: answerClientError,
  });
  const { auth, unsubscribe, createContext } = procedureContexts({ db, clock, events, heartbeats, work, taskWaiters, agents }, config);
  app.addHook('onClose', async () => {
    unsubscribe();
    await auth.close();
    flushLog(destination);
  });
  logRequests(app, logger, config.slowRequestMs);
  // Security headers (and CORS when AITBC_CORS_ORIGINS is set), then rate limits: before every route.
  await app.register(securityHeaders, { corsOrigins: config.corsOrigins ?? [] });
  // While the database is down or read-only: 503 with Retry-After (unavailable.ts).
  await app.register(unavailablePlugin, { availability: db.availability });
  if (config.rateLimit)
    await app.register(rateLimit, {
      ...config.rateLimit,
      isValidKey: async (key) => (await auth.authenticate(key)).principal !== undefined,
    });
  // Before every route, so each request is measured. AITBC_METRICS=off removes /metrics.
  await app.register(metricsPlugin, { db, auth, outcomes: work.outcomes, enabled: config.metricsEnabled ?? true });
  await app.register(tracingPlugin, { tracing: work.tracing });

  // Every answer names its request, so a user's report can be found in the log.
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  answerErrorsAsJson(app, config.bodyLimit);

  serveHealth(app, db);

  const statuses = successStatuses(appRouter);
  const document = openApiDocument(appRouter, statuses);
  await serveDocs(app, document);

  await mountProcedures(app, { createContext, onError: onProcedureError, statuses });

  // The operators' dashboard at / (apps/web/dist, or AITBC_WEB_DIR).
  await app.register(webPlugin, { dir: config.webDir });

  return app;
}

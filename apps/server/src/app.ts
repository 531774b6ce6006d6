import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import { fastifyTRPCOpenApiPlugin } from 'trpc-to-openapi';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { appRouter, type AppRouter } from './routers/index.ts';
import { type Context, type FieldIssue, summariseIssues } from './trpc.ts';
import type { Database } from './db/database.ts';
import type { EventBus } from './events.ts';
import type { AgentPresence } from './agents/presence.ts';
import type { HeartbeatBuffer } from './swarms/heartbeats.ts';
import type { WorkEngine } from './work/engine.ts';
import { JoinBatcher } from './swarms/joins.ts';
import { ApiKeyAuthenticator } from './auth/api-keys.ts';
import rateLimit from './rate-limit.ts';
import securityHeaders from './security-headers.ts';
import { checkHealth } from './health.ts';
import { openApiDocument, successStatuses } from './openapi.ts';
import { metricsPlugin } from './metrics.ts';
import { webPlugin } from './web.ts';
import type { ServerConfig } from './config.ts';

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

export interface AppOptions {
  config: Pick<ServerConfig, 'adminApiKeys' | 'bodyLimit' | 'logLevel' | 'rateLimit' | 'corsOrigins' | 'metricsEnabled' | 'webDir'>;
  db: Database;
  events: EventBus;
  heartbeats: HeartbeatBuffer;
  work: WorkEngine;
  agents: AgentPresence;
}

/**
 * The HTTP surface: tRPC at /trpc, the same procedures as REST at their
 * OpenAPI paths, the document at /openapi.json, docs at /docs, and /healthz.
 * Every error, ours or Fastify's, answers as JSON `{ code, message }`.
 */
export async function buildApp({ config, db, events, heartbeats, work, agents }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: { paths: ['req.headers["x-api-key"]', 'req.headers.authorization'], censor: '[redacted]' },
    },
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
  const auth = new ApiKeyAuthenticator(db, config.adminApiKeys);
  const joins = new JoinBatcher(db);
  // What other instances did that this one caches: revoked keys, members that left, changed thresholds.
  const unsubscribe = events.subscribe((e) => {
    if (e.kind === 'key.revoked') auth.forget(e.key_id);
    else if (e.kind === 'member.left') heartbeats.forget(e.member_id);
    else if (e.kind === 'swarm.changed') {
      heartbeats.thresholdsChanged(e.swarm_id);
      joins.forgetSwarm(e.swarm_id);
    }
  });
  app.addHook('onClose', async () => unsubscribe());
  // Security headers (and CORS when AITBC_CORS_ORIGINS is set), then rate limits: before every route.
  await app.register(securityHeaders, { corsOrigins: config.corsOrigins ?? [] });
  if (config.rateLimit)
    await app.register(rateLimit, { ...config.rateLimit, isValidKey: async (key) => (await auth.authenticate(key)) !== null });
  // Before every route, so each request is measured. AITBC_METRICS=off removes /metrics.
  await app.register(metricsPlugin, { db, auth, enabled: config.metricsEnabled ?? true });

  const createContext = ({
    req,
  }: {
    req: { id: string; headers: Record<string, string | string[] | undefined>; log: Context['log'] };
  }): Context => {
    const header = req.headers['x-api-key'];
    return {
      db,
      work,
      agents,
      auth,
      events,
      heartbeats,
      joins,
      apiKey: Array.isArray(header) ? header[0] : header,
      requestId: req.id,
      log: req.log,
    };
  };
  const onError = ({ error, ctx, path }: { error: { code: string; cause?: unknown }; ctx?: Context; path?: string }) => {
    if (error.code === 'INTERNAL_SERVER_ERROR') ctx?.log.error({ err: error.cause ?? error, path }, 'procedure failed');
  };

  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-request-id', req.id);
    return reply.statusCode === 400 ? explainInvalidInput(payload) : payload;
  });

  // A POST with no body (the legacy CLI's `swarm leave`, a bare cancel) is an
  // empty JSON object, not an unsupported media type.
  app.addHook('preHandler', async (req) => {
    if (req.body === undefined && req.headers['content-type'] === undefined && req.method !== 'GET')
      req.headers['content-type'] = 'application/json';
  });

  app.setErrorHandler((err: { statusCode?: number; message: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
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

  await app.register(fastifyTRPCOpenApiPlugin, {
    router: appRouter,
    createContext: createContext as never,
    onError: onError as never,
    responseMeta: ({ paths, errors }: { paths?: readonly string[]; errors: unknown[] }) => {
      const status = errors.length === 0 && paths?.[0] ? statuses.get(paths[0]) : undefined;
      return status ? { status } : {};
    },
  });

  // The operators' dashboard at / (apps/web/dist, or AITBC_WEB_DIR).
  await app.register(webPlugin, { dir: config.webDir });

  return app;
}

/**
 * The REST adapter words every schema failure as "Input validation failed";
 * the issues it carries say which field and why, so the message does too.
 */
function explainInvalidInput(payload: unknown): unknown {
  if (typeof payload !== 'string' || !payload.includes('"Input validation failed"')) return payload;
  const body = JSON.parse(payload) as { message: string; data?: { issues?: FieldIssue[] } };
  if (body.data?.issues?.length) body.message = summariseIssues(body.data.issues);
  return JSON.stringify(body);
}

/**
 * The REST paths: each procedure with an OpenAPI path is a Fastify route of
 * its own, calling the procedure through tRPC's caller with the same input
 * and answering with the same bodies trpc-to-openapi's adapter gives (its
 * document generator still writes /openapi.json from the same metadata).
 *
 * Why not trpc-to-openapi's Fastify adapter: for every request it builds a
 * fetch Request and an AbortSignal (only for the signal), binds a dozen
 * methods onto the request and reply, and finds the route by testing every
 * path's regular expression in turn. Profiled under load that was ~15% of a
 * join's CPU; here Fastify's router finds the route and the input goes
 * straight to the caller.
 *
 * Input, as trpc-to-openapi builds it: the JSON body (POST, PATCH, PUT) or
 * the query string (GET, DELETE; a repeated parameter is a list, numbers and
 * booleans of the input schema are coerced), with the path parameters on top.
 * Unlike trpc-to-openapi, a JSON body is not coerced: "60" is not a number
 * (and "false" would have been true).
 *
 * test/rest-adapter.test.ts calls every REST procedure through this and
 * through trpc-to-openapi's own Fastify adapter and compares the answers;
 * @trpc/server (whose unstable-core-do-not-import this uses) and
 * trpc-to-openapi are pinned to the versions it ran against. After raising
 * them, that test says whether this still answers as the adapter does.
 */
import type { AnyRouter } from '@trpc/server';
import { getErrorShape } from '@trpc/server/unstable-core-do-not-import';
import { TRPCError } from '@trpc/server';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { summariseIssues, type Context } from './trpc.ts';

/** tRPC codes as HTTP statuses (trpc-to-openapi's table, for the codes this server raises). */
const STATUS: Record<string, number> = {
  PARSE_ERROR: 400,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_SUPPORTED: 405,
  TIMEOUT: 408,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE_CONTENT: 422,
  TOO_MANY_REQUESTS: 429,
  CLIENT_CLOSED_REQUEST: 499,
  INTERNAL_SERVER_ERROR: 500,
  NOT_IMPLEMENTED: 501,
  SERVICE_UNAVAILABLE: 503,
};

export interface RestOptions {
  router: AnyRouter;
  createContext(req: FastifyRequest): Context;
  onError(opts: { error: TRPCError; ctx: Context; path: string }): void;
  /** Each procedure's success status (201, 202; default 200). */
  statuses: Map<string, number>;
}

type ZodLike = {
  _zod?: { def?: { type?: string; coerce?: boolean; innerType?: ZodLike; in?: ZodLike; out?: ZodLike; getter?: () => ZodLike } };
  shape?: Record<string, ZodLike>;
};

/** The schema inside optional/default/nullable/lazy/pipe wrappers (as trpc-to-openapi unwraps it). */
function unwrap(type: ZodLike | undefined): ZodLike | undefined {
  const def = type?._zod?.def;
  switch (def?.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
      return unwrap(def.innerType);
    case 'lazy':
      return unwrap(def.getter?.());
    case 'pipe':
      return unwrap(def.out?._zod?.def?.type === 'transform' ? def.in : def.out);
    default:
      return type;
  }
}

/** Query strings carry text: let the number and boolean fields of a GET input take it (what trpc-to-openapi does). */
function coerceQueryFields(schema: ZodLike | undefined): void {
  const object = unwrap(schema);
  if (object?._zod?.def?.type !== 'object' || !object.shape) return;
  for (const field of Object.values(object.shape)) {
    const inner = unwrap(field);
    const type = inner?._zod?.def?.type;
    if ((type === 'number' || type === 'boolean' || type === 'bigint' || type === 'date') && inner!._zod!.def)
      inner!._zod!.def.coerce = true;
    else if (type === 'object') coerceQueryFields(inner);
  }
}

const summarised = (issues: { path: string; message: string }[] | undefined) =>
  issues?.length ? summariseIssues(issues) : 'Input validation failed';

/** `a=1&a=2` is a list; a single value is itself. */
function queryInput(query: unknown): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries((query as Record<string, unknown>) ?? {})) {
    if (value !== undefined && value !== '') input[key] = Array.isArray(value) && value.length === 1 ? value[0] : value;
  }
  return input;
}

const rest: FastifyPluginAsync<RestOptions> = async (app: FastifyInstance, { router, createContext, onError, statuses }) => {
  const createCaller = router.createCaller as (ctx: Context, opts: { signal: AbortSignal }) => Record<string, unknown>;
  const procedures = router._def.procedures as Record<string, { _def: { type: string; meta?: OpenApiMeta; inputs: ZodLike[] } }>;
  for (const [path, procedure] of Object.entries(procedures)) {
    const openapi = procedure._def.meta?.openapi;
    if (!openapi || procedure._def.type === 'subscription') continue;
    const withBody = openapi.method !== 'GET' && openapi.method !== 'DELETE';
    if (!withBody) for (const input of procedure._def.inputs) coerceQueryFields(input);
    const segments = path.split('.');
    const success = statuses.get(path) ?? 200;
    app.route({
      method: openapi.method,
      url: openapi.path.replace(/\{([^}]+)\}/g, ':$1'),
      handler: async (req, reply) => {
        const source = withBody ? req.body : queryInput(req.query);
        const input = { ...(source as object), ...(req.params as object) };
        const ctx = createContext(req);
        // Aborts if the client goes away before its answer (a long-polled claim stops waiting).
        const gone = new AbortController();
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) gone.abort();
        });
        try {
          let call: unknown = createCaller(ctx, { signal: gone.signal });
          for (const segment of segments) call = (call as Record<string, unknown>)[segment];
          const data = await (call as (input: unknown) => Promise<unknown>)(input);
          return reply.code(success).send(data);
        } catch (cause) {
          const error = cause instanceof TRPCError ? cause : new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause });
          onError({ error, ctx, path });
          const shape = getErrorShape({ config: router._def._config, error, type: procedure._def.type as 'query', path, input, ctx });
          const invalid = error.code === 'BAD_REQUEST' && error.cause instanceof Error && error.cause.name === 'ZodError';
          const issues = invalid ? (error.cause as Error & { issues: unknown[] }).issues : undefined;
          return reply.code(STATUS[error.code] ?? 500).send({
            ...shape,
            // The field paths say what was wrong: the message says it too (the errorFormatter's data.issues).
            message: invalid ? summarised((shape.data as { issues?: { path: string; message: string }[] }).issues) : shape.message,
            code: error.code,
            issues,
          });
        }
      },
    });
  }
};

/** Registered at the root (fastify-plugin), beside the tRPC endpoint and the dashboard. */
export const restPlugin = fp(rest, { name: 'aitbc-rest', fastify: '5.x' });

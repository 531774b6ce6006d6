import { initTRPC, TRPCError } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import type { FastifyBaseLogger } from 'fastify';
import { isLimitIssue, type Principal } from '@aitbc/core';
import { HOW_TO_SET_A_KEY, type ApiKeyAuthenticator } from './auth/api-keys.ts';
import type { AgentPresence } from './agents/presence.ts';
import { isMissingRecord, isUniqueViolation } from './db/client.ts';
import type { Database } from './db/database.ts';
import type { WorkEngine } from './work/engine.ts';
import type { Waiters } from './work/waiters.ts';
import { DomainError, type DomainErrorKind } from './errors.ts';
import type { EventBus } from './events.ts';
import type { HeartbeatBuffer } from './swarms/heartbeats.ts';
import type { JoinBatcher } from './swarms/joins.ts';

export interface Context {
  db: Database;
  work: WorkEngine;
  /** Task status long polls (work/waiters.ts). */
  taskWaiters: Waiters;
  agents: AgentPresence;
  auth: ApiKeyAuthenticator;
  events: EventBus;
  heartbeats: HeartbeatBuffer;
  joins: JoinBatcher;
  /** The X-Api-Key header as sent (possibly empty). */
  apiKey: string | undefined;
  requestId: string;
  log: FastifyBaseLogger;
}

/** `successStatus` is the HTTP status a REST call answers on success (default 200). */
export type Meta = OpenApiMeta<{ successStatus?: 200 | 201 | 202 }>;

export interface FieldIssue {
  path: string;
  message: string;
}

function fieldIssues(cause: unknown): FieldIssue[] | undefined {
  if (!(cause instanceof Error) || cause.name !== 'ZodError') return undefined;
  const issues = (cause as Error & { issues: { path: PropertyKey[]; message: string }[] }).issues;
  return issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));
}

const t = initTRPC
  .meta<Meta>()
  .context<Context>()
  .create({
    isDev: false,
    errorFormatter({ shape, error, ctx }) {
      const internal = error.code === 'INTERNAL_SERVER_ERROR';
      const issues = fieldIssues(error.cause);
      return {
        ...shape,
        // Never send an internal error's text (it may quote SQL or paths); the log has it.
        message: internal
          ? `Internal server error (request ${ctx?.requestId ?? 'unknown'})`
          : issues
            ? summariseIssues(issues)
            : shape.message,
        data: { code: shape.data.code, httpStatus: shape.data.httpStatus, path: shape.data.path, ...(issues ? { issues } : {}) },
      };
    },
  });

export function summariseIssues(issues: FieldIssue[]): string {
  return 'Invalid input: ' + issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}

/** A validation error every one of whose issues is a size limit. */
function overLimits(cause: unknown): boolean {
  if (!(cause instanceof Error) || cause.name !== 'ZodError') return false;
  const issues = (cause as Error & { issues: { code: string; origin?: string; params?: Record<string, unknown> }[] }).issues;
  return issues.length > 0 && issues.every(isLimitIssue);
}

/** Each kind of domain error as tRPC's code (and so its HTTP status). */
const DOMAIN_CODES: Record<DomainErrorKind, 'NOT_FOUND' | 'CONFLICT' | 'BAD_REQUEST' | 'UNPROCESSABLE_CONTENT'> = {
  not_found: 'NOT_FOUND',
  conflict: 'CONFLICT',
  invalid: 'BAD_REQUEST',
  unprocessable: 'UNPROCESSABLE_CONTENT',
};

/** Domain errors and database errors that mean "the caller asked for something impossible", not "the server broke". */
const mapDomainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  // Input that breaks only a size limit (docs/limits.md) is well-formed but too much: 422, issues kept.
  if (!result.ok && result.error.code === 'BAD_REQUEST' && overLimits(result.error.cause)) {
    throw new TRPCError({ code: 'UNPROCESSABLE_CONTENT', message: result.error.message, cause: result.error.cause });
  }
  // Only errors nobody explained yet: a handler's own TRPCError keeps its message.
  if (!result.ok && result.error.code === 'INTERNAL_SERVER_ERROR') {
    const cause = result.error.cause;
    if (cause instanceof DomainError) throw new TRPCError({ code: DOMAIN_CODES[cause.kind], message: cause.message, cause });
    if (isUniqueViolation(cause))
      throw new TRPCError({ code: 'CONFLICT', message: 'A record with these unique fields already exists', cause: result.error });
    if (isMissingRecord(cause)) throw new TRPCError({ code: 'NOT_FOUND', message: 'Not found', cause: result.error });
  }
  return result;
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

export const publicProcedure = t.procedure.use(mapDomainErrors);

/** Handlers behind this see `ctx.principal`: the key's owner is never missing. */
export const authedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const principal = await ctx.auth.authenticate(ctx.apiKey);
  if (!principal) {
    const what = ctx.apiKey === undefined ? 'Missing API key' : ctx.apiKey.trim() === '' ? 'Empty API key' : 'Unknown or revoked API key';
    throw new TRPCError({ code: 'UNAUTHORIZED', message: `${what}. ${HOW_TO_SET_A_KEY}` });
  }
  return next({ ctx: { ...ctx, principal: principal as Principal } });
});

export const adminProcedure = authedProcedure.use(({ ctx, next }) => {
  if (ctx.principal.role !== 'admin') {
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: 'This needs an admin API key (AITBC_ADMIN_API_KEYS, or ./data/admin.key on the embedded default)',
    });
  }
  return next({ ctx });
});

export type AuthedContext = Context & { principal: Principal };

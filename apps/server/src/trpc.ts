import { initTRPC, TRPCError } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import type { FastifyBaseLogger } from 'fastify';
import { actsFor, isLimitIssue, type Principal, type ProcedureScope, scopeAllows } from '@aitbc/core';
import type { ApiKeyAuthenticator } from './auth/api-keys.ts';
import { adminKeyHint, howToSetAKey } from './auth/bootstrap.ts';
import type { AgentPresence } from './agents/presence.ts';
import type { Actor } from './audit/log.ts';
import type { RequestTrace } from './tracing.ts';
import { isMissingRecord, isUniqueViolation } from './db/client.ts';
import type { RequestTurns } from './db/admission.ts';
import { databaseFault } from './db/faults.ts';
import type { Clock } from './clock.ts';
import { unavailableMessage } from './unavailable.ts';
import type { Database } from './db/database.ts';
import type { WorkEngine } from './work/engine.ts';
import type { Waiters } from './work/waiters.ts';
import { DomainError, type DomainErrorKind } from './errors.ts';
import type { EventBus } from './events.ts';
import type { IdempotentOperation, Submit } from './idempotency.ts';
import type { HeartbeatBuffer } from './swarms/heartbeats.ts';
import type { JoinBatcher } from './swarms/joins.ts';

export interface Context {
  db: Database;
  /** The time of heartbeats, joins and deadlines: the database's on PostgreSQL (clock.ts). */
  clock: Clock;
  work: WorkEngine;
  /** Task status long polls (work/waiters.ts). */
  taskWaiters: Waiters;
  agents: AgentPresence;
  auth: ApiKeyAuthenticator;
  events: EventBus;
  heartbeats: HeartbeatBuffer;
  joins: JoinBatcher;
  /** Requests running at once, in turn by owner (db/admission.ts). */
  turns: RequestTurns;
  /** The X-Api-Key header as sent (possibly empty). */
  apiKey: string | undefined;
  /** The Idempotency-Key header as sent (REST's way to give a submit's idempotency key). */
  idempotencyKey: string | undefined;
  requestId: string;
  /** The caller's address, as the audit log records it. */
  ip: string;
  /** The request's span (tracing on only): the procedure runs inside it. */
  trace: RequestTrace | undefined;
  log: FastifyBaseLogger;
}

/**
 * `successStatus` is the HTTP status a REST call answers on success (default
 * 200); `scope` is what the caller's key needs, set by the procedure builder
 * the procedure is made with (below), so no procedure is without one.
 */
export type Meta = OpenApiMeta<{ successStatus?: 200 | 201 | 202; scope?: ProcedureScope }>;

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

/**
 * Domain errors and database errors that mean "the caller asked for something impossible", not "the server
 * broke"; and database faults, which mean "not now".
 */
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
    // The database down or read-only: 503 with Retry-After (unavailable.ts), nothing was done.
    const fault = databaseFault(cause);
    if (fault) throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: unavailableMessage(fault), cause });
  }
  return result;
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

const publicProcedure = t.procedure.use(mapDomainErrors);

const NEEDS: Record<Exclude<ProcedureScope, 'any'>, (ctx: Context) => string> = {
  worker: () => 'a worker, owner or admin key',
  read: () => 'a read, owner or admin key',
  owner: () => 'an owner or admin key',
  admin: (ctx) => `an admin API key (${adminKeyHint(ctx.db)})`,
};

/**
 * The builder for procedures that need `scope`: it authenticates the key
 * (401 with the reason: missing, unknown, revoked, expired and when), checks
 * that its scope reaches the procedure (403), and records the scope in the
 * procedure's meta, where the OpenAPI document and the tests read it. Every
 * procedure is made with one of the builders below.
 */
function scoped(scope: ProcedureScope, claims = false) {
  return publicProcedure.meta({ scope }).use(async ({ ctx, next }) => {
    const { principal, refused } = await ctx.auth.authenticate(ctx.apiKey);
    if (!principal) throw new TRPCError({ code: 'UNAUTHORIZED', message: `${refused}. ${howToSetAKey(ctx.db)}` });
    if (scope !== 'any' && !scopeAllows(principal.scope, scope)) {
      throw new TRPCError({
        code: 'FORBIDDEN',
        message: `This needs ${NEEDS[scope](ctx)}; the key presented is ${/^[aeiou]/.test(principal.scope) ? 'an' : 'a'} ${principal.scope} key`,
      });
    }
    const authed = { ...ctx, principal: principal as Principal };
    // It runs in its owner's turn, and its units of work wait in its owner's queue for the database (db/admission.ts);
    // what an owner submits or changes goes ahead of its workers' claims and results there, and so do its claims
    // while it has urgent work (work/urgent.ts): the next claim takes it.
    const ahead = scope === 'owner' || scope === 'admin' || (claims && ctx.work.hasUrgent(principal.owner_id));
    return ctx.turns.run(principal.owner_id, () => (ctx.trace ? ctx.trace.run(() => next({ ctx: authed })) : next({ ctx: authed })), ahead);
  });
}

/** Any valid key: who am I. */
export const anyKeyProcedure = scoped('any');
/** The work protocol and member heartbeats: worker keys (for the agents and members they name), owner and admin keys. */
export const workerProcedure = scoped('worker');
/** Claims: as workerProcedure, and ahead of the owner's other requests while it has urgent work (work/urgent.ts). */
export const claimProcedure = scoped('worker', true);
/** Reads of the caller's records: read, owner and admin keys. */
export const readProcedure = scoped('read');
/** Changes to the caller's records: owner and admin keys. */
export const ownerProcedure = scoped('owner');
/** Every owner's records, and keys: admin keys. */
export const adminProcedure = scoped('admin');

export type AuthedContext = Context & { principal: Principal };

/** A submit under the caller's idempotency key, if it sent one (idempotency.ts). */
export function submitOf(ctx: AuthedContext, operation: IdempotentOperation, input: Submit['input']): Submit {
  return { ownerId: ctx.principal.owner_id, operation, input, header: ctx.idempotencyKey };
}

/** Who is acting, as the audit log records it. */
export function actorOf(ctx: AuthedContext): Actor {
  return { owner_id: ctx.principal.owner_id, key_id: ctx.principal.key_id, ip: ctx.ip, request_id: ctx.requestId };
}

/**
 * The agent or member a work call names, once the key is allowed to act for
 * it: a worker key that names agents or members may act only for those (403
 * otherwise, whether or not the id exists).
 */
export function actAs<T extends { kind: 'agent' | 'member'; id: string }>(ctx: AuthedContext, who: T): T {
  if (!actsFor(ctx.principal, who)) {
    const named = (who.kind === 'agent' ? ctx.principal.agents : ctx.principal.members) ?? [];
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: `This worker key works only for ${who.kind}s ${named.join(', ') || '(none)'}; not for ${who.kind} ${who.id}`,
    });
  }
  return who;
}

/** Whose records a listing shows: admin keys, the owner asked for or everyone's (undefined); other keys, their own. */
export function ownerListed(ctx: AuthedContext, asked: string | undefined): string | undefined {
  return ctx.principal.scope === 'admin' ? asked : ownerFor(ctx, asked);
}

/** The owner a call may act on: its own, or (admin keys) any. */
export function ownerFor(ctx: AuthedContext, asked: string | undefined): string {
  const own = ctx.principal.owner_id;
  if (asked === undefined || asked === own) return own;
  if (ctx.principal.scope !== 'admin')
    throw new TRPCError({ code: 'FORBIDDEN', message: `An owner key acts only for its own owner (${own}); ${asked}'s need an admin key` });
  return asked;
}

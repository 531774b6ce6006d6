import { TRPCError } from '@trpc/server';
import {
  KeyCreate,
  KeyCreated,
  KeyIdParam,
  KeyList,
  KeyListQuery,
  KeyRotate,
  KeyRotated,
  type KeyScope,
  KeyView,
  NoInput,
  WhoAmI,
  scopeAllows,
  storedList,
  IdempotentHeaders,
} from '@aitbc/core';
import { submitOnce } from '../idempotency.ts';
import { type AuthedContext, actorOf, anyKeyProcedure, ownerFor, ownerListed, ownerProcedure, router, submitOf } from '../trpc.ts';
import { issueKey, principalOf } from '../auth/api-keys.ts';
import { audit } from '../audit/log.ts';
import { pageAfter, takePage } from '../pagination.ts';
import type { PrismaTx } from '../db/client.ts';

type KeyRow = NonNullable<Awaited<ReturnType<PrismaTx['apiKey']['findFirst']>>>;

function toKeyView(k: KeyRow): KeyView {
  const { scope, agents, members, expires_at } = principalOf(k);
  return {
    id: k.id,
    owner_id: k.ownerId,
    scope,
    role: scope,
    agents,
    members,
    prefix: k.prefix,
    label: k.label,
    created_at: k.createdAt.toISOString(),
    expires_at,
    revoked_at: k.revokedAt?.toISOString() ?? null,
    last_used_at: k.lastUsedAt?.toISOString() ?? null,
    replaced_by: k.replacedBy,
  };
}

const forbidden = (message: string) => new TRPCError({ code: 'FORBIDDEN', message });

/** A key the caller may manage: its owner's (admin keys: any). Another owner's answers exactly as a missing one. */
async function findKey(tx: PrismaTx, ctx: AuthedContext, keyId: string): Promise<KeyRow> {
  const key = await tx.apiKey.findUnique({ where: { id: keyId } });
  if (!key || (ctx.principal.scope !== 'admin' && key.ownerId !== ctx.principal.owner_id))
    throw new TRPCError({ code: 'NOT_FOUND', message: `API key ${keyId} not found` });
  return key;
}

/** Every id in `ids` must be one of `owner`'s; else 404 naming the first that is not. */
async function mustOwn(kind: 'Agent' | 'Member', ids: readonly string[] | null, found: (ids: string[]) => Promise<{ id: string }[]>) {
  if (!ids?.length) return;
  const mine = new Set((await found([...new Set(ids)])).map((r) => r.id));
  const missing = ids.find((id) => !mine.has(id));
  if (missing) throw new TRPCError({ code: 'NOT_FOUND', message: `${kind} ${missing} not found` });
}

const tags = ['keys'];

/**
 * API keys: admins issue keys for any owner; an owner key issues, lists,
 * rotates and revokes its own owner's keys, never wider than itself. Every
 * issue, rotation and revocation is in the audit log, written in the same
 * transaction.
 */
export const keyRouter = router({
  whoami: anyKeyProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/api/v1/whoami',
        tags,
        summary: 'Who the presented API key acts for, and what it may do',
        protect: true,
      },
    })
    .input(NoInput)
    .output(WhoAmI)
    .query(async ({ ctx }) => {
      const { agents, owner_id } = ctx.principal;
      if (!agents?.length) return { ...ctx.principal, agent_names: null };
      const rows = await ctx.db.run((db) =>
        db.agent.findMany({ where: { id: { in: agents }, ownerId: owner_id }, select: { id: true, name: true } }),
      );
      return { ...ctx.principal, agent_names: Object.fromEntries(rows.map((a) => [a.id, a.name])) };
    }),

  create: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api/v1/keys',
        tags,
        summary: 'Issue an API key: admins for any owner, owner keys for their own owner (never wider than the issuing key)',
        protect: true,
        requestHeaders: IdempotentHeaders,
      },
      successStatus: 201,
    })
    .input(KeyCreate)
    .output(KeyCreated)
    .mutation(({ ctx, input }) => {
      const ownerId = ownerFor(ctx, input.owner_id);
      const scope: KeyScope = input.scope ?? input.role ?? 'owner';
      if (!scopeAllows(ctx.principal.scope, scope)) throw forbidden(`An ${ctx.principal.scope} key cannot issue ${scope} keys`);
      return submitOnce(ctx.db, submitOf(ctx, 'key.create', input), async (tx) => {
        // Worker keys only (KeyCreate): a list not named is empty, "all" is null.
        const worker = scope === 'worker';
        const agents = worker ? storedList(input.agents) : null;
        const members = worker ? storedList(input.members) : null;
        await mustOwn('Agent', agents, (ids) => tx.agent.findMany({ where: { id: { in: ids }, ownerId }, select: { id: true } }));
        await mustOwn('Member', members, (ids) =>
          tx.swarmMember
            .findMany({ where: { memberId: { in: ids }, ownerId }, select: { memberId: true } })
            .then((rows) => rows.map((r) => ({ id: r.memberId }))),
        );
        const issued = issueKey();
        const now = new Date();
        const row = await tx.apiKey.create({
          data: {
            ownerId,
            role: scope,
            prefix: issued.prefix,
            keyHash: issued.hash,
            label: input.label ?? null,
            agentIds: agents === null ? null : JSON.stringify(agents),
            memberIds: members === null ? null : JSON.stringify(members),
            expiresAt: input.expires_in_seconds ? new Date(now.getTime() + input.expires_in_seconds * 1000) : null,
            createdBy: ctx.principal.owner_id,
            createdAt: now,
          },
        });
        const view = toKeyView(row);
        await audit(tx, actorOf(ctx), {
          action: 'key.create',
          owner_id: ownerId,
          target_id: row.id,
          detail: { scope, label: view.label, agents: view.agents, members: view.members, expires_at: view.expires_at },
        });
        return { ...view, key: issued.key };
      });
    }),

  list: ownerProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/api/v1/keys',
        tags,
        summary: 'List API keys (your owner’s; admins: any owner’s or all); never shows the keys themselves',
        protect: true,
      },
    })
    .input(KeyListQuery)
    .output(KeyList)
    .query(({ ctx, input }) => {
      const ownerId = ownerListed(ctx, input.owner_id);
      return ctx.db.run(async (db) => {
        const page = pageAfter(input.cursor);
        const rows = await db.apiKey.findMany({
          where: {
            ...(ownerId ? { ownerId } : {}),
            ...(input.include_revoked ? {} : { revokedAt: null }),
            ...page.where,
          },
          orderBy: page.orderBy,
          take: input.limit + 1,
        });
        const { items, next_cursor } = takePage(rows, input.limit);
        return { keys: items.map(toKeyView), next_cursor };
      });
    }),

  rotate: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api/v1/keys/{key_id}/rotate',
        tags,
        summary: 'Issue a replacement with the same scope and label; the old key keeps working for grace_seconds (default 24 h)',
        protect: true,
      },
      successStatus: 201,
    })
    .input(KeyRotate)
    .output(KeyRotated)
    .mutation(async ({ ctx, input }) => {
      const rotated = await ctx.db.transaction(async (tx) => {
        const old = await findKey(tx, ctx, input.key_id);
        const now = new Date();
        const conflict = (message: string) => new TRPCError({ code: 'CONFLICT', message: `API key ${old.id} ${message}` });
        if (old.revokedAt) throw conflict(`was revoked at ${old.revokedAt.toISOString()}; issue a new key`);
        if (old.replacedBy) throw conflict(`was already rotated; its replacement is key ${old.replacedBy}`);
        if (old.expiresAt && old.expiresAt <= now) throw conflict(`expired at ${old.expiresAt.toISOString()}; issue a new key`);
        const issued = issueKey();
        // The replacement lives as long as the old key was given to (a key that never expired still never does).
        const lifetime = old.expiresAt ? old.expiresAt.getTime() - old.createdAt.getTime() : null;
        const row = await tx.apiKey.create({
          data: {
            ownerId: old.ownerId,
            role: old.role,
            prefix: issued.prefix,
            keyHash: issued.hash,
            label: old.label,
            agentIds: old.agentIds,
            memberIds: old.memberIds,
            expiresAt: lifetime === null ? null : new Date(now.getTime() + lifetime),
            createdBy: ctx.principal.owner_id,
            createdAt: now,
          },
        });
        const graceEnds = new Date(now.getTime() + input.grace_seconds * 1000);
        const previous = await tx.apiKey.update({
          where: { id: old.id },
          data: { replacedBy: row.id, expiresAt: old.expiresAt && old.expiresAt < graceEnds ? old.expiresAt : graceEnds },
        });
        await audit(tx, actorOf(ctx), {
          action: 'key.rotate',
          owner_id: old.ownerId,
          target_id: old.id,
          detail: {
            replaced_by: row.id,
            grace_seconds: input.grace_seconds,
            old_key_expires_at: previous.expiresAt?.toISOString() ?? null,
          },
        });
        return { key: { ...toKeyView(row), key: issued.key }, previous: toKeyView(previous) };
      });
      ctx.auth.forget(rotated.previous.id);
      ctx.events.publish({ kind: 'key.changed', key_id: rotated.previous.id });
      return rotated;
    }),

  revoke: ownerProcedure
    .meta({
      openapi: {
        method: 'DELETE',
        path: '/api/v1/keys/{key_id}',
        tags,
        summary: 'Revoke an API key (your owner’s; admins: any); it stops working at once',
        protect: true,
      },
    })
    .input(KeyIdParam)
    .output(KeyView)
    .mutation(async ({ ctx, input }) => {
      const revoked = await ctx.db.transaction(async (tx) => {
        const key = await findKey(tx, ctx, input.key_id);
        if (key.revokedAt)
          throw new TRPCError({
            code: 'CONFLICT',
            message: `API key ${input.key_id} was already revoked at ${key.revokedAt.toISOString()}`,
          });
        if (key.id === ctx.principal.key_id) {
          throw new TRPCError({
            code: 'CONFLICT',
            message: 'Refusing to revoke the key this request was made with; use another key',
          });
        }
        const view = toKeyView(await tx.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } }));
        await audit(tx, actorOf(ctx), { action: 'key.revoke', owner_id: key.ownerId, target_id: key.id, detail: { label: key.label } });
        return view;
      });
      ctx.auth.forget(revoked.id);
      ctx.events.publish({ kind: 'key.revoked', key_id: revoked.id });
      return revoked;
    }),
});

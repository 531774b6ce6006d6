import { TRPCError } from '@trpc/server';
import { KeyCreate, KeyCreated, KeyIdParam, KeyList, KeyListQuery, KeyView, NoInput, Principal, type KeyRole } from '@aitbc/core';
import { adminProcedure, authedProcedure, router } from '../trpc.ts';
import { issueKey } from '../auth/api-keys.ts';
import { pageAfter, takePage } from '../pagination.ts';
import type { PrismaTx } from '../db/client.ts';

type KeyRow = NonNullable<Awaited<ReturnType<PrismaTx['apiKey']['findFirst']>>>;

function toKeyView(k: KeyRow): KeyView {
  return {
    id: k.id,
    owner_id: k.ownerId,
    role: k.role as KeyRole,
    prefix: k.prefix,
    label: k.label,
    created_at: k.createdAt.toISOString(),
    revoked_at: k.revokedAt?.toISOString() ?? null,
  };
}

const tags = ['keys'];

export const keyRouter = router({
  whoami: authedProcedure
    .meta({ openapi: { method: 'GET', path: '/api/v1/whoami', tags, summary: 'Who the presented API key acts for', protect: true } })
    .input(NoInput)
    .output(Principal)
    .query(({ ctx }) => ctx.principal),

  create: adminProcedure
    .meta({
      openapi: { method: 'POST', path: '/api/v1/keys', tags, summary: 'Issue an API key for an owner (admin)', protect: true },
      successStatus: 201,
    })
    .input(KeyCreate)
    .output(KeyCreated)
    .mutation(({ ctx, input }) =>
      ctx.db.transaction(async (tx) => {
        const issued = issueKey();
        const row = await tx.apiKey.create({
          data: {
            ownerId: input.owner_id,
            role: input.role,
            prefix: issued.prefix,
            keyHash: issued.hash,
            label: input.label ?? null,
            createdBy: ctx.principal.owner_id,
          },
        });
        return { ...toKeyView(row), key: issued.key };
      }),
    ),

  list: adminProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/api/v1/keys',
        tags,
        summary: 'List API keys (admin); never shows the keys themselves',
        protect: true,
      },
    })
    .input(KeyListQuery)
    .output(KeyList)
    .query(({ ctx, input }) =>
      ctx.db.run(async (db) => {
        const page = pageAfter(input.cursor);
        const rows = await db.apiKey.findMany({
          where: {
            ...(input.owner_id ? { ownerId: input.owner_id } : {}),
            ...(input.include_revoked ? {} : { revokedAt: null }),
            ...page.where,
          },
          orderBy: page.orderBy,
          take: input.limit + 1,
        });
        const { items, next_cursor } = takePage(rows, input.limit);
        return { keys: items.map(toKeyView), next_cursor };
      }),
    ),

  revoke: adminProcedure
    .meta({
      openapi: {
        method: 'DELETE',
        path: '/api/v1/keys/{key_id}',
        tags,
        summary: 'Revoke an API key (admin); it stops working at once',
        protect: true,
      },
    })
    .input(KeyIdParam)
    .output(KeyView)
    .mutation(async ({ ctx, input }) => {
      const revoked = await ctx.db.transaction(async (tx) => {
        const key = await tx.apiKey.findUnique({ where: { id: input.key_id } });
        if (!key) throw new TRPCError({ code: 'NOT_FOUND', message: `API key ${input.key_id} not found` });
        if (key.revokedAt)
          throw new TRPCError({
            code: 'CONFLICT',
            message: `API key ${input.key_id} was already revoked at ${key.revokedAt.toISOString()}`,
          });
        if (key.id === ctx.principal.key_id) {
          throw new TRPCError({
            code: 'CONFLICT',
            message: 'Refusing to revoke the key this request was made with; use another admin key',
          });
        }
        return toKeyView(await tx.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } }));
      });
      ctx.auth.forget(revoked.id);
      ctx.events.publish({ kind: 'key.revoked', key_id: revoked.id });
      return revoked;
    }),
});

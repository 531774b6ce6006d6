import { AuditList, AuditQuery } from '@aitbc/core';
import { toAuditEntry } from '../audit/log.ts';
import { pageAfter, takePage } from '../pagination.ts';
import { ownerListed, ownerProcedure, router } from '../trpc.ts';

const tags = ['audit'];

/** The audit log: owner keys read their owner's entries, admin keys everyone's (or one owner's). Newest first. */
export const auditRouter = router({
  list: ownerProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/api/v1/audit',
        tags,
        summary: 'Who created, rotated or revoked a key, or removed, archived, cancelled or left something: newest first, paged',
        protect: true,
      },
    })
    .input(AuditQuery)
    .output(AuditList)
    .query(({ ctx, input }) => {
      const ownerId = ownerListed(ctx, input.owner_id);
      return ctx.db.run(async (db) => {
        const page = pageAfter(input.cursor);
        const rows = await db.auditEvent.findMany({
          where: {
            ...(ownerId ? { ownerId } : {}),
            ...(input.action ? { action: input.action } : {}),
            ...(input.target_id ? { targetId: input.target_id } : {}),
            ...page.where,
          },
          orderBy: page.orderBy,
          take: input.limit + 1,
        });
        const { items, next_cursor } = takePage(rows, input.limit);
        return { entries: items.map(toAuditEntry), next_cursor };
      });
    }),
});

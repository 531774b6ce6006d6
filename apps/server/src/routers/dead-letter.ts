import { DeadLetterList, DeadLetterQuery, RedriveRequest, RedriveView, SubtaskHistory, SubtaskIdParam } from '@aitbc/core';
import { audit } from '../audit/log.ts';
import { listDeadLetters, redrive } from '../networks/dead-letters.ts';
import { decodeCursor, encodeCursor } from '../pagination.ts';
import { actorOf, ownerProcedure, readProcedure, router } from '../trpc.ts';

const tags = ['dead letters'];

/**
 * What failed for good, and why: a subtask's attempts one by one, the
 * owner's dead letters (subtasks that failed their execution), and the
 * redrive that runs them again once the cause is fixed.
 */
export const deadLetterRouter = router({
  subtask: readProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/api/v1/subtasks/{subtask_id}',
        tags,
        summary: 'A subtask and every attempt of it: who claimed it, how each attempt ended, and each error',
        protect: true,
      },
    })
    .input(SubtaskIdParam)
    .output(SubtaskHistory)
    .query(({ ctx, input }) => ctx.work.history(ctx.principal.owner_id, input.subtask_id)),

  list: readProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/api/v1/dead-letters',
        tags,
        summary: 'Your subtasks that failed for good (failing their execution), newest first, each with its last error',
        protect: true,
      },
    })
    .input(DeadLetterQuery)
    .output(DeadLetterList)
    .query(({ ctx, input }) =>
      ctx.db.run(async (_, sql) => {
        const at = decodeCursor(input.cursor);
        const rows = await listDeadLetters(
          sql,
          ctx.principal.owner_id,
          { networkId: input.network_id, executionId: input.execution_id, error: input.error },
          { limit: input.limit + 1, after: at ? { failedAt: at.createdAt, subtaskId: at.id } : null },
        );
        const page = rows.slice(0, input.limit);
        const last = page.at(-1);
        return {
          dead_letters: page,
          next_cursor:
            rows.length > input.limit && last ? encodeCursor({ createdAt: new Date(last.failed_at), id: last.subtask_id }) : null,
        };
      }),
    ),

  redrive: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api/v1/dead-letters/redrive',
        tags,
        summary: 'Run dead letters again: each failed execution they belong to runs on, its undecided subtasks queued with fresh attempts',
        protect: true,
      },
    })
    .input(RedriveRequest)
    .output(RedriveView)
    .mutation(async ({ ctx, input }) => {
      const done = await ctx.db.transaction(async (tx) => {
        const view = await redrive(tx, ctx.work, ctx.principal.owner_id, input, new Date());
        for (const r of view.redriven)
          await audit(tx, actorOf(ctx), {
            action: 'execution.redrive',
            owner_id: ctx.principal.owner_id,
            target_id: r.execution_id,
            detail: { subtasks: r.subtasks },
          });
        return view;
      });
      for (const r of done.redriven) ctx.work.announce({ owner_id: ctx.principal.owner_id, execution_id: r.execution_id });
      return { redriven: done.redriven, skipped: done.skipped };
    }),
});

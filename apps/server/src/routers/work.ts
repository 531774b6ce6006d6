import { ClaimRequest, ClaimResult, FailureRequest, HeartbeatRequest, LeaseView, ResultRequest } from '@aitbc/core';
import { claimNext, extendLease, recordFailure, recordResult } from '../work/leases.ts';
import { type AuthedContext, authedProcedure, router } from '../trpc.ts';

/** Tell live views that the work behind a lease moved. */
function changed(
  ctx: AuthedContext,
  where: { execution_id: string | null; network_id: string | null; task_id: string | null; swarm_id: string | null },
) {
  ctx.events.publish({ kind: 'work.changed', owner_id: ctx.principal.owner_id, ...where });
}

function published<T extends { execution_id: string | null; network_id: string | null; task_id: string | null; swarm_id: string | null }>(
  ctx: AuthedContext,
  view: T,
): T {
  changed(ctx, view);
  return view;
}

const tags = ['workers'];

/**
 * The worker protocol: an agent's worker claims its next subtask under a
 * lease, heartbeats while it works, and posts a result or a failure with the
 * lease id it was given. `aitbc agent work` is one such worker.
 */
export const workRouter = router({
  claim: authedProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api/v1/agents/{agent_id}/claim',
        tags,
        summary: 'Lease the agent’s next subtask (null when none waits)',
        protect: true,
      },
    })
    .input(ClaimRequest)
    .output(ClaimResult)
    .mutation(async ({ ctx, input }) => {
      const subtask = await ctx.db.transaction((db) =>
        claimNext(db, ctx.principal.owner_id, { kind: 'agent', id: input.agent_id }, input.lease_seconds, new Date()),
      );
      if (subtask) changed(ctx, subtask);
      return { subtask };
    }),

  heartbeat: authedProcedure
    .meta({
      openapi: { method: 'POST', path: '/api/v1/subtasks/{subtask_id}/heartbeat', tags, summary: 'Extend a lease you hold', protect: true },
    })
    .input(HeartbeatRequest)
    .output(LeaseView)
    .mutation(({ ctx, input }) => ctx.db.transaction((db) => extendLease(db, ctx.principal.owner_id, input, new Date()))),

  result: authedProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api/v1/subtasks/{subtask_id}/result',
        tags,
        summary: 'Post a subtask’s result (any JSON)',
        protect: true,
      },
    })
    .input(ResultRequest)
    .output(LeaseView)
    .mutation(async ({ ctx, input }) =>
      published(ctx, await ctx.db.transaction((db) => recordResult(db, ctx.principal.owner_id, input, new Date()))),
    ),

  fail: authedProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api/v1/subtasks/{subtask_id}/fail',
        tags,
        summary: 'Report that the subtask failed; it is retried elsewhere until max_attempts',
        protect: true,
      },
    })
    .input(FailureRequest)
    .output(LeaseView)
    .mutation(async ({ ctx, input }) =>
      published(ctx, await ctx.db.transaction((db) => recordFailure(db, ctx.principal.owner_id, input, new Date()))),
    ),
});

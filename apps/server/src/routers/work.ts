import {
  ClaimBatch,
  ClaimBatchRequest,
  ClaimRequest,
  ClaimResult,
  FailureRequest,
  HeartbeatRequest,
  LeaseHeartbeatBatchRequest,
  LeaseHeartbeatBatchView,
  LeaseView,
  ResultBatchRequest,
  ResultBatchView,
  ResultRequest,
  type ReportedOutcome,
} from '@aitbc/core';
import { refusalError } from '../work/engine.ts';
import { type AuthedContext, authedProcedure, router } from '../trpc.ts';

const tags = ['workers'];

/** One outcome through the batch path; a refusal is the single call's error (404 or 409). */
async function recordOne(ctx: AuthedContext, outcome: ReportedOutcome): Promise<LeaseView> {
  const [answer] = await ctx.work.record(ctx.principal.owner_id, [outcome]);
  if (answer?.status === 'refused') throw refusalError({ refusal: answer.refusal!, message: answer.message! });
  return ctx.work.leaseView(ctx.principal.owner_id, outcome.subtask_id);
}

/**
 * The worker protocol: an agent's worker claims subtasks under a lease,
 * heartbeats while it works, and posts a result or a failure with the lease
 * id it was given. Each call has its single-item form and a batched one; a
 * claim may wait for work (long poll). `aitbc agent work` and the client's
 * createWorker speak it.
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
    .mutation(async ({ ctx, input, signal }) => {
      const [subtask] = await ctx.work.claim(
        ctx.principal.owner_id,
        { kind: 'agent', id: input.agent_id },
        {
          max: 1,
          leaseSeconds: input.lease_seconds,
          waitSeconds: input.wait_seconds,
          signal,
        },
      );
      return { subtask: subtask ?? null };
    }),

  claims: authedProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api/v1/agents/{agent_id}/claims',
        tags,
        summary: 'Lease up to `max` of the agent’s subtasks at once; with wait_seconds, wait for work when none is waiting',
        protect: true,
      },
    })
    .input(ClaimBatchRequest)
    .output(ClaimBatch)
    .mutation(async ({ ctx, input, signal }) => ({
      subtasks: await ctx.work.claim(
        ctx.principal.owner_id,
        { kind: 'agent', id: input.agent_id },
        {
          max: input.max,
          leaseSeconds: input.lease_seconds,
          waitSeconds: input.wait_seconds,
          signal,
        },
      ),
    })),

  heartbeat: authedProcedure
    .meta({
      openapi: { method: 'POST', path: '/api/v1/subtasks/{subtask_id}/heartbeat', tags, summary: 'Extend a lease you hold', protect: true },
    })
    .input(HeartbeatRequest)
    .output(LeaseView)
    .mutation(async ({ ctx, input }) => {
      const [lease] = await ctx.work.extend(ctx.principal.owner_id, [input], input.lease_seconds);
      if (lease && !lease.held) throw refusalError(lease);
      return ctx.work.leaseView(ctx.principal.owner_id, input.subtask_id);
    }),

  heartbeats: authedProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api/v1/subtasks/heartbeats',
        tags,
        summary: 'Extend every lease a worker holds in one request; each lease is answered on its own',
        protect: true,
      },
    })
    .input(LeaseHeartbeatBatchRequest)
    .output(LeaseHeartbeatBatchView)
    .mutation(async ({ ctx, input }) => ({ leases: await ctx.work.extend(ctx.principal.owner_id, input.leases, input.lease_seconds) })),

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
    .mutation(({ ctx, input }) => recordOne(ctx, { subtask_id: input.subtask_id, lease_id: input.lease_id, result: input.result })),

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
    .mutation(({ ctx, input }) => recordOne(ctx, { subtask_id: input.subtask_id, lease_id: input.lease_id, error: input.error })),

  results: authedProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api/v1/subtasks/results',
        tags,
        summary:
          'Post up to 100 results and failures in one transaction; each is answered on its own (recorded, already recorded, or refused and why)',
        protect: true,
      },
    })
    .input(ResultBatchRequest)
    .output(ResultBatchView)
    .mutation(async ({ ctx, input }) => {
      const results = await ctx.work.record(ctx.principal.owner_id, input.results);
      const refused = results.filter((r) => r.status === 'refused').length;
      return { results, recorded: results.length - refused, refused };
    }),
});

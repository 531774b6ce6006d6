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
  actsFor,
  type ReportedOutcome,
} from '@aitbc/core';
import { type Known, type LeaseState, type OutcomeState, refusalError } from '../work/engine.ts';
import { type AuthedContext, actAs, claimProcedure, router, workerProcedure } from '../trpc.ts';

const tags = ['workers'];

type Lease = { subtask_id: string; lease_id: string };

/**
 * Runs `work` on the leases the key may work on and answers the rest with
 * `refuse`, in the order given: a worker key that names agents or members is
 * answered NOT_FOUND for a lease given to another agent or member, held now
 * or ended, and for a lease never given on that subtask, as it is for another
 * owner's: its refusal would otherwise tell that subtask's state. Other keys
 * pass straight through.
 */
async function withinKey<T extends Lease, A>(
  ctx: AuthedContext,
  leases: T[],
  refuse: (lease: T, message: string) => A,
  work: (allowed: T[]) => Promise<A[]>,
): Promise<A[]> {
  const { principal } = ctx;
  if (principal.scope !== 'worker' || (principal.agents === null && principal.members === null)) return work(leases);
  const holders = await ctx.work.leaseHolders(principal.owner_id, leases);
  const outside = leases.map((l) => {
    const who = holders.get(`${l.subtask_id}\n${l.lease_id}`);
    return who === undefined || !actsFor(principal, who);
  });
  const allowed = leases.filter((_, i) => !outside[i]);
  const done = allowed.length ? await work(allowed) : [];
  let next = 0;
  return leases.map((l, i) =>
    outside[i] ? refuse(l, `Subtask ${l.subtask_id} is not leased to an agent or member this key works for`) : (done[next++] as A),
  );
}

/** Record outcomes the key may report; the rest are refused as not found. */
function record(ctx: AuthedContext, outcomes: ReportedOutcome[], known?: Known): Promise<OutcomeState[]> {
  return withinKey(
    ctx,
    outcomes,
    (o, message): OutcomeState => ({ subtask_id: o.subtask_id, lease_id: o.lease_id, status: 'refused', refusal: 'NOT_FOUND', message }),
    (allowed) => ctx.work.record(ctx.principal.owner_id, allowed, known),
  );
}

/** Extend the leases the key may hold; the rest are refused as not found. */
function extend(ctx: AuthedContext, leases: Lease[], leaseSeconds: number | undefined): Promise<LeaseState[]> {
  return withinKey(
    ctx,
    leases,
    (l, message): LeaseState => ({ ...l, held: false, lease_expires_at: null, refusal: 'NOT_FOUND', message }),
    (allowed) => ctx.work.extend(ctx.principal.owner_id, allowed, leaseSeconds),
  );
}

/** One outcome through the batch path; a refusal is the single call's error (404 or 409). */
async function recordOne(ctx: AuthedContext, outcome: ReportedOutcome): Promise<LeaseView> {
  // A result decided alone leaves its row known, and its done check its parent's status: neither is read again.
  const known: Known = { rows: new Map(), parents: new Map() };
  const [answer] = await record(ctx, [outcome], known);
  if (answer?.status === 'refused') throw refusalError({ refusal: answer.refusal!, message: answer.message! });
  return ctx.work.leaseView(ctx.principal.owner_id, outcome.subtask_id, known);
}

/**
 * The worker protocol: an agent's worker claims subtasks under a lease,
 * heartbeats while it works, and posts a result or a failure with the lease
 * id it was given. Each call has its single-item form and a batched one; a
 * claim may wait for work (long poll). `aitbc agent work` and the client's
 * createWorker speak it.
 */
export const workRouter = router({
  claim: claimProcedure
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
      const [subtask] = await ctx.work.claim(ctx.principal.owner_id, actAs(ctx, { kind: 'agent', id: input.agent_id }), {
        max: 1,
        leaseSeconds: input.lease_seconds,
        waitSeconds: input.wait_seconds,
        signal,
      });
      return { subtask: subtask ?? null };
    }),

  claims: claimProcedure
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
      subtasks: await ctx.work.claim(ctx.principal.owner_id, actAs(ctx, { kind: 'agent', id: input.agent_id }), {
        max: input.max,
        leaseSeconds: input.lease_seconds,
        waitSeconds: input.wait_seconds,
        signal,
      }),
    })),

  heartbeat: workerProcedure
    .meta({
      openapi: { method: 'POST', path: '/api/v1/subtasks/{subtask_id}/heartbeat', tags, summary: 'Extend a lease you hold', protect: true },
    })
    .input(HeartbeatRequest)
    .output(LeaseView)
    .mutation(async ({ ctx, input }) => {
      const [lease] = await extend(ctx, [input], input.lease_seconds);
      if (lease && !lease.held) throw refusalError(lease);
      return ctx.work.leaseView(ctx.principal.owner_id, input.subtask_id);
    }),

  heartbeats: workerProcedure
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
    .mutation(async ({ ctx, input }) => ({ leases: await extend(ctx, input.leases, input.lease_seconds) })),

  result: workerProcedure
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

  fail: workerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api/v1/subtasks/{subtask_id}/fail',
        tags,
        summary:
          'Report that the subtask failed; it is retried elsewhere after a backoff until max_attempts (or at once for good, with retryable: false)',
        protect: true,
      },
    })
    .input(FailureRequest)
    .output(LeaseView)
    .mutation(({ ctx, input }) =>
      recordOne(ctx, {
        subtask_id: input.subtask_id,
        lease_id: input.lease_id,
        error: input.error,
        ...(input.retryable !== undefined ? { retryable: input.retryable } : {}),
      }),
    ),

  results: workerProcedure
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
      const results = await record(ctx, input.results);
      const refused = results.filter((r) => r.status === 'refused').length;
      return { results, recorded: results.length - refused, refused };
    }),
});

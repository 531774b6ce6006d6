import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import type { ClaimedSubtask, ExecutionStatus, LeaseView, SubtaskStatus } from '@aitbc/core';
import { jsonInput, type PrismaTx } from '../db/client.ts';
import type { Database } from '../db/database.ts';
import { decideSubtask, lockExecution, reassign, resultKey } from './executions.ts';
import type { SubtaskRow } from './views.ts';

/** Claims an agent's worker may look through at once before giving up for this poll. */
const CLAIM_LOOKAHEAD = 8;
/** Rows one sweep pass handles; the next pass (a second later) takes the rest. */
const SWEEP_BATCH = 100;

const later = (now: Date, seconds: number) => new Date(now.getTime() + seconds * 1000);

function subtaskNotFound(id: string): TRPCError {
  return new TRPCError({ code: 'NOT_FOUND', message: `Subtask ${id} not found` });
}

/** Why a lease the worker presented is not (any longer) its own. */
function leaseLost(s: SubtaskRow, leaseId: string): TRPCError {
  const why =
    s.status === 'leased' || s.status === 'assigned'
      ? 'its lease expired and it was handed to another claim'
      : s.status === 'cancelled'
        ? 'it was cancelled (its execution was cancelled or already decided)'
        : `it is already ${s.status}`;
  return new TRPCError({ code: 'CONFLICT', message: `Lease ${leaseId} on subtask ${s.id} is no longer held: ${why}` });
}

async function leaseView(tx: PrismaTx, subtaskId: string): Promise<LeaseView> {
  const s = await tx.subtask.findUniqueOrThrow({ where: { id: subtaskId } });
  const execution = s.executionId ? await tx.agentNetworkExecution.findUnique({ where: { id: s.executionId }, select: { status: true } }) : null;
  return {
    subtask_id: s.id,
    status: s.status as SubtaskStatus,
    lease_expires_at: s.leaseExpiresAt?.toISOString() ?? null,
    execution_status: (execution?.status ?? 'running') as ExecutionStatus,
  };
}

async function leaseSecondsFor(tx: PrismaTx, s: { networkId: string | null }, requested: number | undefined): Promise<number> {
  if (requested) return requested;
  const network = s.networkId ? await tx.agentNetwork.findUnique({ where: { id: s.networkId }, select: { leaseSeconds: true } }) : null;
  return network?.leaseSeconds ?? 30;
}

/**
 * The agent's next subtask, highest priority first and oldest first within a
 * priority, leased to the caller. Two workers racing for one subtask both try
 * the same conditional update; the database lets exactly one of them move it
 * from `assigned` to `leased`, and the other moves on to the next one.
 */
export async function claimNext(tx: PrismaTx, ownerId: string, agentId: string, requestedLease: number | undefined, now: Date): Promise<ClaimedSubtask | null> {
  const agent = await tx.agent.findFirst({ where: { id: agentId, ownerId }, select: { status: true } });
  if (!agent) throw new TRPCError({ code: 'NOT_FOUND', message: `Agent ${agentId} not found` });
  // A claim is a sign of life: the agent is live for assignment from now on.
  await tx.agent.update({ where: { id: agentId }, data: { lastSeen: now, ...(agent.status === 'offline' ? { status: 'online' } : {}) } });

  const waiting = await tx.subtask.findMany({
    where: { ownerId, assigneeId: agentId, status: 'assigned' },
    orderBy: [{ priorityRank: 'asc' }, { createdAt: 'asc' }, { seq: 'asc' }, { replica: 'asc' }],
    take: CLAIM_LOOKAHEAD,
  });
  for (const s of waiting) {
    const leaseSeconds = await leaseSecondsFor(tx, s, requestedLease);
    const leaseId = randomUUID();
    const expires = later(now, leaseSeconds);
    const won = await tx.subtask.updateMany({
      where: { id: s.id, status: 'assigned', assigneeId: agentId },
      data: { status: 'leased', leaseId, leaseExpiresAt: expires, claimBy: null, attempts: { increment: 1 }, startedAt: s.startedAt ?? now },
    });
    if (won.count === 0) continue;
    await tx.subtaskAttempt.create({
      data: { id: leaseId, subtaskId: s.id, ownerId, networkId: s.networkId, executionId: s.executionId, assigneeId: agentId, startedAt: now },
    });
    if (s.executionId) {
      await tx.agentNetworkExecution.updateMany({ where: { id: s.executionId, status: 'queued' }, data: { status: 'running', startedAt: now } });
    }
    return {
      subtask_id: s.id,
      lease_id: leaseId,
      lease_expires_at: expires.toISOString(),
      execution_id: s.executionId ?? '',
      network_id: s.networkId ?? '',
      seq: s.seq,
      replica: s.replica,
      attempt: s.attempts + 1,
      payload: s.payload,
      requires: (s.requires as string[] | null) ?? [],
    };
  }
  return null;
}

async function heldSubtask(tx: PrismaTx, ownerId: string, subtaskId: string): Promise<SubtaskRow> {
  const s = await tx.subtask.findFirst({ where: { id: subtaskId, ownerId } });
  if (!s) throw subtaskNotFound(subtaskId);
  return s;
}

/** Extend a lease the caller still holds. */
export async function extendLease(
  tx: PrismaTx,
  ownerId: string,
  input: { subtask_id: string; lease_id: string; lease_seconds?: number | undefined },
  now: Date,
): Promise<LeaseView> {
  const s = await heldSubtask(tx, ownerId, input.subtask_id);
  const leaseSeconds = await leaseSecondsFor(tx, s, input.lease_seconds);
  const extended = await tx.subtask.updateMany({
    where: { id: s.id, status: 'leased', leaseId: input.lease_id },
    data: { leaseExpiresAt: later(now, leaseSeconds) },
  });
  if (extended.count === 0) throw leaseLost(s, input.lease_id);
  if (s.assigneeId) await tx.agent.updateMany({ where: { id: s.assigneeId }, data: { lastSeen: now } });
  return leaseView(tx, s.id);
}

/**
 * Record a worker's result. A result posted twice under the same lease (a
 * retry after a lost response) is acknowledged again, not recorded twice.
 */
export async function recordResult(
  tx: PrismaTx,
  ownerId: string,
  input: { subtask_id: string; lease_id: string; result: unknown },
  now: Date,
): Promise<LeaseView> {
  const s = await heldSubtask(tx, ownerId, input.subtask_id);
  const key = resultKey(input.result);
  if (s.status === 'completed' && s.leaseId === input.lease_id) {
    if (s.resultKey === key) return leaseView(tx, s.id);
    throw new TRPCError({ code: 'CONFLICT', message: `Subtask ${s.id} already has a different result under lease ${input.lease_id}` });
  }
  const execution = s.executionId ? await lockExecution(tx, s.executionId, now) : null;
  const recorded = await tx.subtask.updateMany({
    where: { id: s.id, status: 'leased', leaseId: input.lease_id },
    data: { status: 'completed', result: jsonInput(input.result) as object, resultKey: key, completedAt: now, leaseExpiresAt: null, error: null },
  });
  if (recorded.count === 0) throw leaseLost(s, input.lease_id);
  await tx.subtaskAttempt.updateMany({ where: { id: input.lease_id, outcome: 'open' }, data: { outcome: 'completed', endedAt: now } });
  if (s.assigneeId) await tx.agent.updateMany({ where: { id: s.assigneeId }, data: { lastSeen: now } });
  if (execution) await decideSubtask(tx, execution, s.seq, now);
  return leaseView(tx, s.id);
}

/**
 * Take a held or expired replica away from its agent: to another agent by
 * the network's strategy, or to `failed` once it has had max_attempts claims.
 * `from` is the state the caller saw; the update only applies if it still holds.
 */
async function releaseReplica(
  tx: PrismaTx,
  s: SubtaskRow,
  from: { status: 'leased'; leaseId: string } | { status: 'assigned'; assigneeId: string },
  error: string | null,
  now: Date,
): Promise<boolean> {
  const execution = s.executionId ? await lockExecution(tx, s.executionId, now) : null;
  const network = s.networkId ? await tx.agentNetwork.findUnique({ where: { id: s.networkId } }) : null;
  const exhausted = from.status === 'leased' && s.attempts >= s.maxAttempts;
  const next = !exhausted && execution && network ? await reassign(tx, s, network, s.assigneeId ? [s.assigneeId] : [], now) : null;
  const data = next
    ? { status: 'assigned', assigneeId: next, assignedAt: now, claimBy: later(now, network!.claimTimeoutSeconds), leaseId: null, leaseExpiresAt: null, error }
    : {
        status: 'failed',
        leaseExpiresAt: null,
        claimBy: null,
        completedAt: now,
        error: exhausted ? `${error ?? 'failed'} (attempt ${s.attempts} of ${s.maxAttempts})` : (error ?? 'no capable agent is left to run it'),
      };
  const moved = await tx.subtask.updateMany({ where: { id: s.id, ...from }, data });
  if (moved.count === 0) return false;
  if (!next && execution) await decideSubtask(tx, execution, s.seq, now);
  return true;
}

/** A worker reports that it could not do the subtask: retried elsewhere until max_attempts. */
export async function recordFailure(tx: PrismaTx, ownerId: string, input: { subtask_id: string; lease_id: string; error: string }, now: Date): Promise<LeaseView> {
  const s = await heldSubtask(tx, ownerId, input.subtask_id);
  if (s.status !== 'leased' || s.leaseId !== input.lease_id) throw leaseLost(s, input.lease_id);
  await tx.subtaskAttempt.updateMany({ where: { id: input.lease_id, outcome: 'open' }, data: { outcome: 'failed', endedAt: now, error: input.error } });
  if (!(await releaseReplica(tx, s, { status: 'leased', leaseId: input.lease_id }, input.error, now))) throw leaseLost(s, input.lease_id);
  return leaseView(tx, s.id);
}

/**
 * The periodic pass that keeps work moving without any worker's help:
 * expired leases go back to the queue (another agent preferred) or fail after
 * max_attempts, and assignments nobody claimed within claim_timeout (or whose
 * agent went offline) move to a live agent. Each subtask is its own
 * transaction with conditional updates, so concurrent sweepers (several
 * server instances) act on each subtask at most once.
 */
export async function sweepLeases(db: Database, now = new Date()): Promise<{ expired: number; reassigned: number }> {
  const [expiring, unclaimed] = await db.run((tx) =>
    Promise.all([
      tx.subtask.findMany({ where: { status: 'leased', leaseExpiresAt: { lt: now } }, take: SWEEP_BATCH, orderBy: { leaseExpiresAt: 'asc' } }),
      tx.subtask.findMany({ where: { status: 'assigned', claimBy: { lt: now } }, take: SWEEP_BATCH, orderBy: { claimBy: 'asc' } }),
    ]),
  );
  let expired = 0;
  let reassigned = 0;
  for (const s of expiring) {
    const done = await db.transaction(async (tx) => {
      await tx.subtaskAttempt.updateMany({ where: { id: s.leaseId ?? '', outcome: 'open' }, data: { outcome: 'expired', endedAt: now } });
      return releaseReplica(tx, s, { status: 'leased', leaseId: s.leaseId ?? '' }, 'lease expired', now);
    });
    if (done) expired++;
  }
  for (const s of unclaimed) {
    const moved = await db.transaction(async (tx) => {
      const network = s.networkId ? await tx.agentNetwork.findUnique({ where: { id: s.networkId } }) : null;
      if (!network || !s.assigneeId) return false;
      const next = await reassign(tx, s, network, [s.assigneeId], now);
      const data = next && next !== s.assigneeId ? { assigneeId: next, assignedAt: now } : {};
      const updated = await tx.subtask.updateMany({
        where: { id: s.id, status: 'assigned', assigneeId: s.assigneeId },
        data: { ...data, claimBy: later(now, network.claimTimeoutSeconds) },
      });
      return updated.count > 0 && next !== null && next !== s.assigneeId;
    });
    if (moved) reassigned++;
  }
  return { expired, reassigned };
}

/** Runs sweepLeases every `intervalMs` until stopped; a pass still running skips the tick, a failing pass is logged. */
export function startLeaseSweeper(db: Database, intervalMs: number, log: { error(obj: unknown, msg: string): void }): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped || running) return;
    running = sweepLeases(db)
      .catch((err) => log.error({ err }, 'lease sweep failed'))
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

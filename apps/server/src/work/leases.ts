import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { DomainError } from '../errors.ts';
import type { ClaimedSubtask, ExecutionStatus, LeaseView, SubtaskStatus } from '@aitbc/core';
import { jsonInput, type PrismaTx } from '../db/client.ts';
import type { Database } from '../db/database.ts';
import { networkParent, resultKey } from '../networks/executions.ts';
import type { SubtaskRow } from '../networks/views.ts';
import { coordinationParent } from '../swarms/coordinations.ts';
import { touchMember } from '../swarms/membership.ts';
import { endAttempt, lockSwarm } from '../stats.ts';
import type { ParentKeys, WorkParent } from './parent.ts';

/** What a claim reads of the subtasks it looks through. */
const CLAIM_FIELDS = {
  id: true,
  networkId: true,
  executionId: true,
  coordinationId: true,
  swarmId: true,
  seq: true,
  replica: true,
  attempts: true,
  payload: true,
  requires: true,
  startedAt: true,
} as const;

/** Claims a worker may look through at once before giving up for this poll. */
const CLAIM_LOOKAHEAD = 8;
/** Rows one sweep pass handles; the next pass (a second later) takes the rest. */
const SWEEP_BATCH = 100;

const later = (now: Date, seconds: number) => new Date(now.getTime() + seconds * 1000);

/** Who claims: an agent (network work) or a swarm member (swarm work). */
export type Assignee = { kind: 'agent'; id: string } | { kind: 'member'; id: string };

/** The parent of a subtask: its network execution or its swarm coordination. */
export function parentOf(tx: PrismaTx, s: ParentKeys, now: Date): Promise<WorkParent | null> {
  return s.coordinationId ? coordinationParent(tx, s, now) : networkParent(tx, s, now);
}

function subtaskNotFound(id: string): TRPCError {
  return new TRPCError({ code: 'NOT_FOUND', message: `Subtask ${id} not found` });
}

/** Why a lease the worker presented is not (any longer) its own. */
function leaseLost(s: SubtaskRow, leaseId: string): TRPCError {
  const why =
    s.status === 'leased' || s.status === 'assigned'
      ? 'its lease expired and it was handed to another claim'
      : s.status === 'cancelled'
        ? 'it was cancelled (its execution or task was cancelled or already decided)'
        : `it is already ${s.status}`;
  return new TRPCError({ code: 'CONFLICT', message: `Lease ${leaseId} on subtask ${s.id} is no longer held: ${why}` });
}

/** What a lease view reads of its subtask. */
const LEASE_FIELDS = { id: true, status: true, leaseExpiresAt: true, executionId: true, networkId: true, coordinationId: true } as const;

/** The subtask's lease as it stands now; `parent` when the caller already has it. */
async function leaseView(tx: PrismaTx, subtaskId: string, now: Date, parent?: WorkParent | null): Promise<LeaseView> {
  const s = await tx.subtask.findUniqueOrThrow({ where: { id: subtaskId }, select: LEASE_FIELDS });
  const about = await (parent === undefined ? await parentOf(tx, s, now) : parent)?.describe();
  return {
    subtask_id: s.id,
    status: s.status as SubtaskStatus,
    lease_expires_at: s.leaseExpiresAt?.toISOString() ?? null,
    execution_id: about?.execution_id ?? null,
    network_id: about?.network_id ?? null,
    execution_status: s.executionId ? ((about?.status ?? 'running') as ExecutionStatus) : null,
    task_id: about?.task_id ?? null,
    swarm_id: about?.swarm_id ?? null,
    task_status: s.coordinationId ? (about?.status ?? null) : null,
  };
}

/** The caller's agent or member, refreshed as a sign of life; a 404 when it is not the caller's. */
async function checkIn(tx: PrismaTx, ownerId: string, who: Assignee, now: Date): Promise<void> {
  if (who.kind === 'member') return touchMember(tx, ownerId, who.id, now);
  // A claim is a sign of life: the agent is live for assignment from now on.
  const seen = await tx.agent.updateMany({ where: { id: who.id, ownerId }, data: { lastSeen: now } });
  if (seen.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: `Agent ${who.id} not found` });
  await tx.agent.updateMany({ where: { id: who.id, status: 'offline' }, data: { status: 'online' } });
}

/**
 * The assignee's next subtask, highest priority first and oldest first within
 * a priority, leased to the caller. Two workers racing for one subtask both
 * try the same conditional update; the database lets exactly one of them move
 * it from `assigned` to `leased`, and the other moves on to the next one.
 */
export async function claimNext(
  tx: PrismaTx,
  ownerId: string,
  who: Assignee,
  requestedLease: number | undefined,
  now: Date,
): Promise<ClaimedSubtask | null> {
  await checkIn(tx, ownerId, who, now);
  const waiting = await tx.subtask.findMany({
    where: { ownerId, assigneeId: who.id, status: 'assigned' },
    orderBy: [{ priorityRank: 'asc' }, { createdAt: 'asc' }, { seq: 'asc' }, { replica: 'asc' }],
    take: CLAIM_LOOKAHEAD,
    select: CLAIM_FIELDS,
  });
  for (const s of waiting) {
    const parent = await parentOf(tx, s, now);
    const leaseId = randomUUID();
    const expires = later(now, requestedLease ?? parent?.leaseSeconds ?? 30);
    const won = await tx.subtask.updateMany({
      where: { id: s.id, status: 'assigned', assigneeId: who.id },
      data: {
        status: 'leased',
        leaseId,
        leaseExpiresAt: expires,
        claimBy: null,
        attempts: { increment: 1 },
        startedAt: s.startedAt ?? now,
      },
    });
    if (won.count === 0) continue;
    await tx.subtaskAttempt.create({
      data: {
        id: leaseId,
        subtaskId: s.id,
        ownerId,
        networkId: s.networkId,
        executionId: s.executionId,
        swarmId: s.swarmId,
        assigneeId: who.id,
        startedAt: now,
      },
    });
    await parent?.started();
    const about = await parent?.describe();
    return {
      subtask_id: s.id,
      lease_id: leaseId,
      lease_expires_at: expires.toISOString(),
      execution_id: about?.execution_id ?? null,
      network_id: about?.network_id ?? null,
      task_id: about?.task_id ?? null,
      swarm_id: about?.swarm_id ?? null,
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

/** A sign of life from whoever holds the subtask. */
async function seen(tx: PrismaTx, s: SubtaskRow, now: Date): Promise<void> {
  if (!s.assigneeId) return;
  if (s.coordinationId) {
    // A member that left may still post what it finished; only its own refusal is ignored,
    // a database error (a deadlock) must abort the transaction so that it is retried.
    await touchMember(tx, s.ownerId, s.assigneeId, now).catch((error: unknown) => {
      if (!(error instanceof DomainError)) throw error;
    });
  } else await tx.agent.updateMany({ where: { id: s.assigneeId }, data: { lastSeen: now } });
}

/** Extend a lease the caller still holds. */
export async function extendLease(
  tx: PrismaTx,
  ownerId: string,
  input: { subtask_id: string; lease_id: string; lease_seconds?: number | undefined },
  now: Date,
): Promise<LeaseView> {
  const s = await heldSubtask(tx, ownerId, input.subtask_id);
  const leaseSeconds = input.lease_seconds ?? (await parentOf(tx, s, now))?.leaseSeconds ?? 30;
  const extended = await tx.subtask.updateMany({
    where: { id: s.id, status: 'leased', leaseId: input.lease_id },
    data: { leaseExpiresAt: later(now, leaseSeconds) },
  });
  if (extended.count === 0) throw leaseLost(s, input.lease_id);
  await seen(tx, s, now);
  return leaseView(tx, s.id, now);
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
    if (s.resultKey === key) return leaseView(tx, s.id, now);
    throw new TRPCError({ code: 'CONFLICT', message: `Subtask ${s.id} already has a different result under lease ${input.lease_id}` });
  }
  // Lock order, on every path: swarm, member, then parent (execution or task), then subtasks, then counters.
  await lockSwarm(tx, s.swarmId);
  await seen(tx, s, now);
  const parent = await parentOf(tx, s, now);
  const open = parent ? await parent.lock() : false;
  const recorded = await tx.subtask.updateMany({
    where: { id: s.id, status: 'leased', leaseId: input.lease_id },
    data: {
      status: 'completed',
      result: jsonInput(input.result) as object,
      resultKey: key,
      completedAt: now,
      leaseExpiresAt: null,
      error: null,
    },
  });
  if (recorded.count === 0) throw leaseLost(s, input.lease_id);
  await endAttempt(tx, input.lease_id, 'completed', now);
  if (open && parent) await parent.settle({ ...s, status: 'completed', result: input.result as never, resultKey: key });
  return leaseView(tx, s.id, now, parent);
}

/**
 * Take a held or assigned replica away from its assignee: to another one by
 * the parent's rules, or to `failed` once it has had max_attempts claims (or
 * nobody else can take it). `from` is the state the caller saw; the update
 * only applies if it still holds.
 */
export async function releaseReplica(
  tx: PrismaTx,
  s: SubtaskRow,
  from: { status: 'leased'; leaseId: string } | { status: 'assigned'; assigneeId: string },
  error: string | null,
  now: Date,
): Promise<boolean> {
  const parent = await parentOf(tx, s, now);
  const open = parent ? await parent.lock() : false;
  const exhausted = from.status === 'leased' && s.attempts >= s.maxAttempts;
  const next = !exhausted && open && parent ? await parent.reassign(s, s.assigneeId ? [s.assigneeId] : []) : null;
  const data = next
    ? {
        status: 'assigned',
        assigneeId: next,
        assignedAt: now,
        claimBy: later(now, parent!.claimTimeoutSeconds),
        leaseId: null,
        leaseExpiresAt: null,
        error,
      }
    : {
        status: open ? 'failed' : 'cancelled',
        leaseId: null,
        leaseExpiresAt: null,
        claimBy: null,
        completedAt: now,
        error: exhausted ? `${error ?? 'failed'} (attempt ${s.attempts} of ${s.maxAttempts})` : (error ?? 'nobody is left who can run it'),
      };
  const moved = await tx.subtask.updateMany({ where: { id: s.id, ...from }, data });
  if (moved.count === 0) return false;
  if (!next && open && parent) await parent.settle({ ...s, status: 'failed', error: data.error ?? null });
  return true;
}

/** A worker reports that it could not do the subtask: retried elsewhere until max_attempts. */
export async function recordFailure(
  tx: PrismaTx,
  ownerId: string,
  input: { subtask_id: string; lease_id: string; error: string },
  now: Date,
): Promise<LeaseView> {
  const s = await heldSubtask(tx, ownerId, input.subtask_id);
  if (s.status !== 'leased' || s.leaseId !== input.lease_id) throw leaseLost(s, input.lease_id);
  // Lock order: swarm, member, then parent, then counters (see recordResult).
  await lockSwarm(tx, s.swarmId);
  await seen(tx, s, now);
  if (!(await releaseReplica(tx, s, { status: 'leased', leaseId: input.lease_id }, input.error, now))) throw leaseLost(s, input.lease_id);
  await endAttempt(tx, input.lease_id, 'failed', now, input.error);
  return leaseView(tx, s.id, now);
}

/**
 * Take every open subtask from an assignee that went away (a swarm member
 * that left or failed): held leases end with `outcome`, and the work moves on.
 */
export async function releaseAllOf(
  tx: PrismaTx,
  assigneeId: string,
  outcome: 'expired' | 'cancelled',
  why: string,
  now: Date,
): Promise<number> {
  const open = await tx.subtask.findMany({ where: { assigneeId, status: { in: ['assigned', 'leased'] } } });
  let moved = 0;
  for (const s of open) {
    const from =
      s.status === 'leased' ? { status: 'leased' as const, leaseId: s.leaseId ?? '' } : { status: 'assigned' as const, assigneeId };
    if (!(await releaseReplica(tx, s, from, why, now))) continue;
    moved++;
    if (s.status === 'leased') await endAttempt(tx, s.leaseId, outcome, now);
  }
  return moved;
}

/**
 * The periodic pass that keeps work moving without any worker's help:
 * expired leases go back to the queue (another assignee preferred) or fail
 * after max_attempts, and assignments nobody claimed within the claim
 * timeout (or whose agent went offline) move on. Each subtask is its own
 * transaction with conditional updates, so concurrent sweepers (several
 * server instances) act on each subtask at most once.
 */
export async function sweepLeases(db: Database, now = new Date()): Promise<{ expired: number; reassigned: number }> {
  const [expiring, unclaimed] = await db.run((tx) =>
    Promise.all([
      tx.subtask.findMany({
        where: { status: 'leased', leaseExpiresAt: { lt: now } },
        take: SWEEP_BATCH,
        orderBy: { leaseExpiresAt: 'asc' },
      }),
      tx.subtask.findMany({ where: { status: 'assigned', claimBy: { lt: now } }, take: SWEEP_BATCH, orderBy: { claimBy: 'asc' } }),
    ]),
  );
  let expired = 0;
  let reassigned = 0;
  for (const s of expiring) {
    const done = await db.transaction(async (tx) => {
      await lockSwarm(tx, s.swarmId);
      const released = await releaseReplica(tx, s, { status: 'leased', leaseId: s.leaseId ?? '' }, 'lease expired', now);
      if (released) await endAttempt(tx, s.leaseId, 'expired', now);
      return released;
    });
    if (done) expired++;
  }
  for (const s of unclaimed) {
    const moved = await db.transaction(async (tx) => {
      await lockSwarm(tx, s.swarmId);
      const parent = await parentOf(tx, s, now);
      if (!parent || !s.assigneeId) return false;
      const next = await parent.reassign(s, [s.assigneeId]);
      const data = next && next !== s.assigneeId ? { assigneeId: next, assignedAt: now } : {};
      const updated = await tx.subtask.updateMany({
        where: { id: s.id, status: 'assigned', assigneeId: s.assigneeId },
        data: { ...data, claimBy: later(now, parent.claimTimeoutSeconds) },
      });
      return updated.count > 0 && next !== null && next !== s.assigneeId;
    });
    if (moved) reassigned++;
  }
  return { expired, reassigned };
}

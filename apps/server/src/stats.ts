/**
 * Rolling aggregates: the counters status and metrics read, moved in the
 * same transaction as the events they count, so a status request reads a
 * row or two whatever the history. Each function is one event.
 */
import type { MemberStatus } from '@aitbc/core';
import type { PrismaTx } from './db/client.ts';
import type { Tx } from './db/database.ts';
import { raw, sql } from './db/sql.ts';

const seconds = (from: Date, to: Date) => Math.max(0, (to.getTime() - from.getTime()) / 1000);

export async function executionStarted(tx: PrismaTx, networkId: string, now: Date): Promise<void> {
  await tx.agentNetwork.updateMany({
    where: { id: networkId },
    data: { liveExecutions: { increment: 1 }, executionsTotal: { increment: 1 }, lastActivityAt: now },
  });
}

/** An execution finished; `createdAt` gives its time from submission to completion. */
export async function executionEnded(
  tx: PrismaTx,
  networkId: string,
  status: 'completed' | 'failed' | 'cancelled',
  createdAt: Date,
  now: Date,
): Promise<void> {
  await tx.agentNetwork.updateMany({
    where: { id: networkId },
    data: {
      liveExecutions: { decrement: 1 },
      lastActivityAt: now,
      ...(status === 'completed'
        ? { executionsCompleted: { increment: 1 }, executionSeconds: { increment: seconds(createdAt, now) } }
        : {}),
      ...(status === 'failed' ? { executionsFailed: { increment: 1 } } : {}),
    },
  });
}

/** A replicated subtask was decided; `disagreed` when its replicas did not all return the same. */
export async function replicasDecided(tx: PrismaTx, networkId: string, disagreed: boolean): Promise<void> {
  await tx.agentNetwork.updateMany({
    where: { id: networkId },
    data: { replicatedDecided: { increment: 1 }, ...(disagreed ? { disagreements: { increment: 1 } } : {}) },
  });
}

export async function taskStarted(tx: PrismaTx, swarmId: string): Promise<void> {
  await tx.swarm.updateMany({ where: { id: swarmId }, data: { liveTasks: { increment: 1 } } });
}

export async function taskEnded(tx: PrismaTx, swarmId: string, status: 'completed' | 'failed' | 'timed_out' | 'cancelled'): Promise<void> {
  const field = { completed: 'tasksCompleted', failed: 'tasksFailed', timed_out: 'tasksTimedOut', cancelled: null }[status];
  await tx.swarm.updateMany({
    where: { id: swarmId },
    data: { liveTasks: { decrement: 1 }, ...(field ? { [field]: { increment: 1 } } : {}) },
  });
}

/** Members' results that ended up in a decided outcome. */
export async function resultsAccepted(tx: PrismaTx, swarmId: string, count: number): Promise<void> {
  if (count > 0) await tx.swarm.updateMany({ where: { id: swarmId }, data: { acceptedResults: { increment: count } } });
}

const MEMBER_COLUMN: Record<MemberStatus, string> = {
  active: 'active_members',
  suspect: 'suspect_members',
  failed: 'failed_members',
  left: 'left_members',
};

/** `count` members of a swarm moved from one state (null: they joined) to another. */
export async function membersMoved(
  tx: Pick<Tx, 'sql'>,
  swarmId: string,
  from: MemberStatus | null,
  to: MemberStatus,
  count: number,
): Promise<void> {
  if (count <= 0 || from === to) return;
  const into = raw(`"${MEMBER_COLUMN[to]}" = "${MEMBER_COLUMN[to]}" + `);
  const outOf = from ? sql`, ${raw(`"${MEMBER_COLUMN[from]}" = "${MEMBER_COLUMN[from]}" - `)}${count}` : sql``;
  await tx.sql.run(sql`UPDATE "swarms" SET ${into}${count}${outOf} WHERE "id" = ${swarmId}`);
}

/**
 * Take a swarm's row lock before anything else its work touches. Every
 * transaction that settles, releases or reassigns a swarm's work (results,
 * failures, expiry, leaving, failing members, heartbeat writes, consensus
 * requests, deadlines) starts here, so on PostgreSQL they queue on one row
 * instead of locking members, tasks and subtasks in different orders and
 * deadlocking.
 */
export async function lockSwarm(tx: Pick<Tx, 'sql'>, swarmId: string | null): Promise<void> {
  if (swarmId) await tx.sql.run(sql`UPDATE "swarms" SET "updated_at" = ${new Date()} WHERE "id" = ${swarmId}`);
}

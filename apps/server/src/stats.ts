/**
 * Rolling aggregates: the counters status and metrics read, moved in the
 * same transaction as the events they count, so a status request reads a
 * row or two whatever the history. Each function is one event.
 */
import type { MemberStatus } from '@aitbc/core';
import type { Tx } from './db/database.ts';
import { type Query, raw, sql } from './db/sql.ts';

const seconds = (from: Date, to: Date) => Math.max(0, (to.getTime() - from.getTime()) / 1000);

type Db = Pick<Tx, 'sql'>;

/**
 * An execution was submitted: the network's counters, and the round-robin cursor its plan moved, in one UPDATE (its
 * execution's row and subtasks are written with it: on PostgreSQL in the same statement, see submit.ts).
 */
export function executionStarted(networkId: string, rrCursor: number, now: Date): Query {
  return sql`
    UPDATE "agent_networks" SET "live_executions" = "live_executions" + 1, "executions_total" = "executions_total" + 1,
      "rr_cursor" = ${rrCursor}, "last_activity_at" = ${now}, "updated_at" = ${now}
    WHERE "id" = ${networkId}`;
}

/** An execution finished; `createdAt` gives its time from submission to completion. */
export function executionEnded(
  tx: Db,
  networkId: string,
  status: 'completed' | 'failed' | 'cancelled',
  createdAt: Date,
  now: Date,
): Promise<void> {
  const completed = status === 'completed' ? 1 : 0;
  return executionsEndedBy(
    tx,
    networkId,
    { ended: 1, completed, failed: status === 'failed' ? 1 : 0, seconds: completed ? seconds(createdAt, now) : 0 },
    now,
  );
}

/** Executions of one network completed together, submitted at `createdAt`. */
export function executionsCompleted(tx: Db, networkId: string, createdAt: Date[], now: Date): Promise<void> {
  const total = createdAt.reduce((sum, at) => sum + seconds(at, now), 0);
  return executionsEndedBy(tx, networkId, { ended: createdAt.length, completed: createdAt.length, failed: 0, seconds: total }, now);
}

async function executionsEndedBy(
  tx: Db,
  networkId: string,
  n: { ended: number; completed: number; failed: number; seconds: number },
  now: Date,
): Promise<void> {
  await tx.sql.run(sql`
    UPDATE "agent_networks" SET "live_executions" = "live_executions" - ${n.ended}, "last_activity_at" = ${now}, "updated_at" = ${now},
      "executions_completed" = "executions_completed" + ${n.completed}, "execution_seconds" = "execution_seconds" + ${n.seconds},
      "executions_failed" = "executions_failed" + ${n.failed}
    WHERE "id" = ${networkId}`);
}

/** A replicated subtask was decided; `disagreed` when its replicas did not all return the same. */
export async function replicasDecided(tx: Db, networkId: string, disagreed: boolean): Promise<void> {
  await tx.sql.run(sql`
    UPDATE "agent_networks" SET "replicated_decided" = "replicated_decided" + 1, "disagreements" = "disagreements" + ${disagreed ? 1 : 0},
      "updated_at" = ${new Date()}
    WHERE "id" = ${networkId}`);
}

export async function taskStarted(tx: Db, swarmId: string): Promise<void> {
  await tx.sql.run(sql`UPDATE "swarms" SET "live_tasks" = "live_tasks" + 1, "updated_at" = ${new Date()} WHERE "id" = ${swarmId}`);
}

const TASK_COLUMN = { completed: 'tasks_completed', failed: 'tasks_failed', timed_out: 'tasks_timed_out', cancelled: null };

export async function taskEnded(tx: Db, swarmId: string, status: 'completed' | 'failed' | 'timed_out' | 'cancelled'): Promise<void> {
  const column = TASK_COLUMN[status];
  const ended = column ? raw(`, "${column}" = "${column}" + 1`) : raw('');
  await tx.sql.run(sql`UPDATE "swarms" SET "live_tasks" = "live_tasks" - 1${ended}, "updated_at" = ${new Date()} WHERE "id" = ${swarmId}`);
}

/** Members' results that ended up in a decided outcome. */
export async function resultsAccepted(tx: Db, swarmId: string, count: number): Promise<void> {
  if (count > 0)
    await tx.sql.run(
      sql`UPDATE "swarms" SET "accepted_results" = "accepted_results" + ${count}, "updated_at" = ${new Date()} WHERE "id" = ${swarmId}`,
    );
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

/** A failed execution runs again (a redrive): it is live again, and no longer counted as failed. */
export async function executionReopened(tx: Db, networkId: string, now: Date): Promise<void> {
  await tx.sql.run(sql`
    UPDATE "agent_networks" SET "live_executions" = "live_executions" + 1, "executions_failed" = "executions_failed" - 1,
      "last_activity_at" = ${now}, "updated_at" = ${now}
    WHERE "id" = ${networkId}`);
}

/** Verified work decided (README "Verification"), on a network's or swarm's row: negative to take back a reopened subtask. */
export async function verifiedDecided(
  tx: Db,
  table: 'agent_networks' | 'swarms',
  id: string,
  n: { validated: number; inconclusive: number; results: number; replicas: number; invalid: number },
): Promise<void> {
  await tx.sql.run(sql`
    UPDATE ${raw(`"${table}"`)} SET "verify_validated" = "verify_validated" + ${n.validated},
      "verify_inconclusive" = "verify_inconclusive" + ${n.inconclusive}, "verify_results" = "verify_results" + ${n.results},
      "verify_replicas" = "verify_replicas" + ${n.replicas}, "verify_invalid" = "verify_invalid" + ${n.invalid}, "updated_at" = ${new Date()}
    WHERE "id" = ${id}`);
}

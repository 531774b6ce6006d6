/**
 * Claim attempts end: each open attempt among `leaseIds` (an attempt's id is
 * its lease id) takes `outcome`, once. Returns those it ended.
 */
import { flag, inList, type Sql, sql, time } from '../../db/sql.ts';

export type AttemptOutcome = 'completed' | 'failed' | 'expired' | 'cancelled';

export interface EndedAttemptRow {
  leaseId: string;
  subtaskId: string;
  assigneeId: string;
  startedAt: Date;
  /** A backup copy's attempt (speculation). */
  backup: boolean;
}

export async function endAttempts(
  db: Sql,
  leaseIds: string[],
  outcome: AttemptOutcome,
  now: Date,
  error: string | null = null,
): Promise<EndedAttemptRow[]> {
  if (leaseIds.length === 0) return [];
  const rows = await db.all(sql`
    UPDATE "subtask_attempts" SET "outcome" = ${outcome}, "ended_at" = ${now}, "error" = ${error}
    WHERE "id" ${inList(leaseIds)} AND "outcome" = 'open'
    RETURNING "id", "subtask_id", "assignee_id", "started_at", "backup"`);
  return rows.map((r) => ({
    leaseId: r.id as string,
    subtaskId: r.subtask_id as string,
    assigneeId: r.assignee_id as string,
    startedAt: time(r.started_at),
    backup: flag(r.backup),
  }));
}

/**
 * Who was given each of these leases (an attempt's id is its lease id), current or ended, first copy or
 * backup: the caller's own attempts only. A worker key is answered about a lease only when it acts for
 * its holder.
 */
export async function attemptHolders(
  db: Sql,
  ownerId: string,
  leaseIds: string[],
): Promise<{ leaseId: string; subtaskId: string; assigneeId: string; kind: 'agent' | 'member' }[]> {
  if (leaseIds.length === 0) return [];
  const rows = await db.all(sql`
    SELECT "id", "subtask_id", "assignee_id", "execution_id" FROM "subtask_attempts" WHERE "id" ${inList(leaseIds)} AND "owner_id" = ${ownerId}`);
  return rows.map((r) => ({
    leaseId: r.id as string,
    subtaskId: r.subtask_id as string,
    assigneeId: r.assignee_id as string,
    kind: r.execution_id ? 'agent' : 'member',
  }));
}

/** Every attempt of a subtask, oldest first (its history). */
export async function attemptsOf(
  db: Sql,
  subtaskId: string,
): Promise<(EndedAttemptRow & { outcome: string; error: string | null; endedAt: Date | null })[]> {
  const rows = await db.all(sql`
    SELECT "id", "subtask_id", "assignee_id", "started_at", "ended_at", "backup", "outcome", "error" FROM "subtask_attempts"
    WHERE "subtask_id" = ${subtaskId} ORDER BY "started_at", "id"`);
  return rows.map((r) => ({
    leaseId: r.id as string,
    subtaskId: r.subtask_id as string,
    assigneeId: r.assignee_id as string,
    startedAt: time(r.started_at),
    endedAt: time(r.ended_at),
    backup: flag(r.backup),
    outcome: r.outcome as string,
    error: (r.error as string | null) ?? null,
  }));
}

/** How attempts (by lease id) ended: what a refused heartbeat or result is told. */
export async function attemptOutcomes(db: Sql, leaseIds: string[]): Promise<Map<string, { subtaskId: string; outcome: string }>> {
  if (leaseIds.length === 0) return new Map();
  const rows = await db.all(sql`SELECT "id", "subtask_id", "outcome" FROM "subtask_attempts" WHERE "id" ${inList(leaseIds)}`);
  return new Map(rows.map((r) => [r.id as string, { subtaskId: r.subtask_id as string, outcome: r.outcome as string }]));
}

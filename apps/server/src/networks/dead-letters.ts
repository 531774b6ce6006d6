/**
 * Dead letters (pg-boss's dead-letter queue, with redrive): a subtask of a
 * network execution that failed for good, failing its execution, is kept
 * in dead_letters with its last error, for its owner to list and, once the
 * cause is fixed, to redrive. A redrive runs the execution again from where
 * it stopped: the execution is running again, and each subtask that failed
 * or was cancelled when it failed (and is not decided) is queued again with
 * fresh attempts; what was decided stays decided. Once every subtask is
 * decided, the execution completes and its reduce is computed again.
 */
import type { DeadLetterView, RedriveRequest, RedriveView } from '@aitbc/core';
import type { Tx } from '../db/database.ts';
import { dialectal, inList, raw, type Sql, sql, time } from '../db/sql.ts';
import { executionReopened } from '../stats.ts';
import type { WorkEngine } from '../work/engine.ts';
import type { SubtaskRow } from '../work/subtasks.ts';
import type { ExecutionRow } from './views.ts';

/** The subtask that failed its execution, kept as a dead letter (in the transaction that failed the execution). */
export async function recordDeadLetter(db: Sql, execution: ExecutionRow, failed: SubtaskRow, error: string, now: Date): Promise<void> {
  await db.run(sql`
    INSERT INTO "dead_letters" ("subtask_id", "owner_id", "network_id", "execution_id", "seq", "error", "attempts", "failed_at")
    VALUES (${failed.id}, ${execution.ownerId}, ${execution.networkId}, ${execution.id}, ${failed.seq}, ${error}, ${failed.attempts}, ${now})
    ON CONFLICT ("subtask_id") DO UPDATE SET "error" = excluded."error", "attempts" = excluded."attempts", "failed_at" = excluded."failed_at"`);
}

export interface DeadLetterFilter {
  subtaskIds?: string[] | undefined;
  networkId?: string | undefined;
  executionId?: string | undefined;
  /** Only those whose last error contains this text. */
  error?: string | undefined;
}

function where(ownerId: string, f: DeadLetterFilter) {
  const parts = [sql`"owner_id" = ${ownerId}`];
  if (f.subtaskIds) parts.push(sql`"subtask_id" ${inList(f.subtaskIds)}`);
  if (f.networkId) parts.push(sql`"network_id" = ${f.networkId}`);
  if (f.executionId) parts.push(sql`"execution_id" = ${f.executionId}`);
  // Substring match on both dialects, the filter's own % and _ taken literally.
  if (f.error) parts.push(sql`${dialectal(sql`instr("error", ${f.error})`, sql`strpos("error", ${f.error})`)} > 0`);
  return parts.reduce((a, b) => sql`${a} AND ${b}`);
}

interface DeadRow {
  subtask_id: string;
  network_id: string;
  execution_id: string;
  seq: unknown;
  error: string;
  attempts: unknown;
  failed_at: unknown;
}

const toView = (r: DeadRow): DeadLetterView => ({
  subtask_id: r.subtask_id,
  network_id: r.network_id,
  execution_id: r.execution_id,
  seq: Number(r.seq),
  attempts: Number(r.attempts),
  error: r.error,
  failed_at: time(r.failed_at).toISOString(),
});

/** An owner's dead letters, newest first, `limit` after `after` (the last one of the page before). */
export async function listDeadLetters(
  db: Sql,
  ownerId: string,
  filter: DeadLetterFilter,
  page: { limit: number; after: { failedAt: Date; subtaskId: string } | null },
): Promise<DeadLetterView[]> {
  const after = page.after
    ? sql` AND ("failed_at" < ${page.after.failedAt} OR ("failed_at" = ${page.after.failedAt} AND "subtask_id" < ${page.after.subtaskId}))`
    : sql``;
  const rows = await db.all<DeadRow>(sql`
    SELECT * FROM "dead_letters" WHERE ${where(ownerId, filter)}${after}
    ORDER BY "failed_at" DESC, "subtask_id" DESC LIMIT ${raw(String(page.limit))}`);
  return rows.map(toView);
}

/** Most dead letters one redrive reads (RedriveRequest's limit on ids, for filters too). */
const REDRIVE_BATCH = 1000;

/**
 * Redrive the dead letters the request selects, execution by execution:
 * each execution that failed runs again (its dead letters are deleted);
 * one that was cancelled or has completed since is skipped, saying why.
 */
export async function redrive(
  tx: Tx,
  work: WorkEngine,
  ownerId: string,
  request: RedriveRequest,
  now: Date,
): Promise<RedriveView & { requeued: string[] }> {
  const filter = {
    subtaskIds: request.subtask_ids,
    networkId: request.network_id,
    executionId: request.execution_id,
    error: request.error,
  };
  const dead = await tx.sql.all<{ execution_id: string }>(sql`
    SELECT DISTINCT "execution_id" FROM "dead_letters" WHERE ${where(ownerId, filter)} LIMIT ${raw(String(REDRIVE_BATCH))}`);
  const view: RedriveView & { requeued: string[] } = { redriven: [], skipped: [], requeued: [] };
  // Lock order: executions in id order (as every path that settles work), then their subtasks.
  for (const executionId of dead.map((d) => d.execution_id).sort()) {
    const locked = await tx.sql.one<{ network_id: string; status: string }>(sql`
      UPDATE "agent_network_executions" SET "updated_at" = ${now} WHERE "id" = ${executionId} AND "owner_id" = ${ownerId}
      RETURNING "network_id", "status"`);
    const skip = (reason: string) => view.skipped.push({ execution_id: executionId, reason });
    if (locked?.status !== 'failed') {
      skip(`execution ${executionId} is ${locked?.status ?? 'gone'}: only a failed execution runs again`);
      continue;
    }
    const requeued = await work.requeueEnded(tx, { executionId }, now);
    if ('stuck' in requeued) {
      skip(`nobody can run subtask ${requeued.stuck} of execution ${executionId} now (no capable agent left in its network)`);
      continue;
    }
    await tx.sql.run(sql`
      UPDATE "agent_network_executions" SET "status" = 'running', "error" = NULL, "completed_at" = NULL WHERE "id" = ${executionId}`);
    await executionReopened(tx, locked.network_id, now);
    await tx.sql.run(sql`DELETE FROM "dead_letters" WHERE "execution_id" = ${executionId}`);
    view.redriven.push({ execution_id: executionId, subtasks: requeued.ids.length });
    view.requeued.push(...requeued.ids);
  }
  return view;
}

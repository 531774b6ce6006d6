/**
 * Results that decide their subtask alone, on PostgreSQL in one statement:
 * the subtask completes and is accepted, its attempt ends, and the parent's
 * counters move, with no transaction around it (no BEGIN or COMMIT) and
 * nothing read first. Which results decide alone, and which counters move,
 * is the parent's to say (`DecidingAlone`, given by the network's
 * executions): a subtask of a single-replica execution with no verification
 * policy, with no backup copy running. Every other result (or a refused
 * one) is left as it was, for the general path (results.ts) to record or
 * answer; the rows this returns are the ones it decided.
 *
 * The rows are locked first, in id order, as complete.ts and extend.ts lock
 * them. SQLite has no data-modifying CTEs: this is the subtasks' part alone
 * (one UPDATE … FROM … RETURNING), and results.ts ends the attempts and
 * moves the counters in the same transaction.
 */
import { json, join, type Query, type Sql, sql } from '../../db/sql.ts';
import type { Tx } from '../../db/database.ts';
import { type SubtaskRow, settledColumns, subtaskFrom } from '../subtasks.ts';
import type { Completion } from './complete.ts';

/** A parent's part in results that decide alone. */
export interface DecidingAlone {
  /** Holds for subtask `s` when a result decides it alone (its parent's rules). */
  alone: Query;
  /**
   * CTEs (each starting with a comma) that move the parent's counters, reading `done` (the subtasks decided, with
   * their columns) and `ended` (their attempts: `assignee_id`, `started_at`, `network_id`, `execution_id`).
   */
  counters: Query;
  /** SQLite: the parent's own counters for these decided subtasks (the agents' moved with their attempts). */
  decided(tx: Tx, rows: SubtaskRow[]): Promise<void>;
}

export async function decideSubtasks(
  db: Sql,
  ownerId: string,
  completions: Completion[],
  now: Date,
  parent: DecidingAlone,
): Promise<SubtaskRow[]> {
  if (completions.length === 0) return [];
  if (db.dialect === 'sqlite') {
    const values = join(completions.map((c) => sql`(${c.subtaskId}, ${c.leaseId}, ${json(c.result)}, ${c.resultKey})`));
    const rows = await db.all(sql`
      WITH d("id", "lease_id", "result", "result_key") AS (VALUES ${values})
      UPDATE "subtasks" AS s SET "status" = 'completed', "result" = d."result", "result_key" = d."result_key", "accepted" = ${true},
        "completed_at" = ${now}, "lease_expires_at" = NULL, "error" = NULL, "updated_at" = ${now}
      FROM d
      WHERE s."id" = d."id" AND s."owner_id" = ${ownerId} AND s."status" = 'leased' AND s."lease_id" = d."lease_id"
        AND s."lease_expires_at" > ${now} AND s."backup_lease_id" IS NULL AND ${parent.alone}
      RETURNING ${settledColumns()}`);
    return rows.map(subtaskFrom);
  }
  const ids = completions.map((c) => c.subtaskId);
  const rows = await db.all(sql`
    WITH "locked" AS (SELECT "id" FROM "subtasks" WHERE "id" = ANY(${ids}::text[]) AND "owner_id" = ${ownerId} ORDER BY "id" FOR UPDATE),
    "done" AS (
      UPDATE "subtasks" s SET "status" = 'completed', "result" = d."result"::jsonb, "result_key" = d."result_key", "accepted" = TRUE,
        "completed_at" = ${now}::timestamp, "lease_expires_at" = NULL, "error" = NULL, "updated_at" = ${now}::timestamp
      FROM unnest(${ids}::text[], ${completions.map((c) => c.leaseId)}::text[],
                  ${completions.map((c) => JSON.stringify(c.result))}::text[], ${completions.map((c) => c.resultKey)}::text[])
        AS d("id", "lease_id", "result", "result_key")
      WHERE s."id" IN (SELECT "id" FROM "locked") AND s."id" = d."id" AND s."owner_id" = ${ownerId} AND s."status" = 'leased'
        AND s."lease_id" = d."lease_id" AND s."lease_expires_at" > ${now}::timestamp AND s."backup_lease_id" IS NULL AND ${parent.alone}
      RETURNING ${settledColumns('s.')}),
    "ended" AS (
      UPDATE "subtask_attempts" a SET "outcome" = 'completed', "ended_at" = ${now}::timestamp
      FROM "done" WHERE a."id" = "done"."lease_id" AND a."outcome" = 'open'
      RETURNING a."assignee_id", a."started_at", "done"."network_id", "done"."execution_id")
    ${parent.counters}
    SELECT * FROM "done"`);
  return rows.map(subtaskFrom);
}

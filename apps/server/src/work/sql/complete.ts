/**
 * Results: each listed subtask whose lease its poster still holds (same
 * lease id, not yet expired) becomes completed with its result. Returns the
 * rows completed, as they are now. One statement on PostgreSQL and on
 * SQLite.
 *
 * A subtask with a backup copy running (speculation) takes the first result
 * under either lease. The winner's lease and assignee become the subtask's;
 * backup_lease_id and backup_assignee_id then name the copy that lost,
 * whose attempt the engine cancels.
 *
 * PostgreSQL: the rows are locked first, in id order (the CTE), as the lease
 * extension (extend.ts) locks them. A batch of results and a heartbeat over
 * the same leases then queue behind each other, never lock each other in a
 * circle: in whatever order the UPDATE's plan meets the rows, the locks are
 * already held. Only the caller's own rows are locked: ids of another
 * owner's subtasks are never waited on.
 */
import { join, json, type Query, raw, type Sql, sql } from '../../db/sql.ts';
import { type SubtaskRow, settledColumns, subtaskFrom } from '../subtasks.ts';

export interface Completion {
  subtaskId: string;
  leaseId: string;
  result: unknown;
  /** SHA-256 of the result's canonical JSON: equal results, equal keys. */
  resultKey: string;
}

/** The posted lease is the first copy's or the backup's, and has not run out. */
export function held(s: string, at: Query, now: Query): Query {
  const [lease, backup] = [raw(`${s}"lease_id"`), raw(`${s}"backup_lease_id"`)];
  return sql`((${lease} = ${at} AND ${raw(`${s}"lease_expires_at"`)} > ${now}) OR (${backup} = ${at} AND ${raw(`${s}"backup_lease_expires_at"`)} > ${now}))`;
}

/** The winner's lease and assignee become the subtask's; the backup columns name the loser (if a backup ran). */
function winner(s: string, posted: string): Query {
  const col = (c: string) => raw(`${s}"${c}"`);
  const first = sql`${col('lease_id')} = ${raw(`${posted}"lease_id"`)}`;
  return sql`"assignee_id" = CASE WHEN ${first} THEN ${col('assignee_id')} ELSE ${col('backup_assignee_id')} END,
    "lease_id" = ${raw(`${posted}"lease_id"`)},
    "backup_assignee_id" = CASE WHEN ${first} THEN ${col('backup_assignee_id')} ELSE ${col('assignee_id')} END,
    "backup_lease_id" = CASE WHEN ${first} THEN ${col('backup_lease_id')} ELSE ${col('lease_id')} END,
    "backup_lease_expires_at" = NULL`;
}

export async function completeSubtasks(db: Sql, ownerId: string, completions: Completion[], now: Date): Promise<SubtaskRow[]> {
  if (completions.length === 0) return [];
  if (db.dialect === 'postgresql') {
    const ids = completions.map((c) => c.subtaskId);
    const rows = await db.all(sql`
      WITH "locked" AS (SELECT "id" FROM "subtasks" WHERE "id" = ANY(${ids}::text[]) AND "owner_id" = ${ownerId} ORDER BY "id" FOR UPDATE)
      UPDATE "subtasks" s SET "status" = 'completed', "result" = done."result"::jsonb, "result_key" = done."result_key",
        ${winner('s.', 'done.')},
        "completed_at" = ${now}::timestamp, "lease_expires_at" = NULL, "error" = NULL, "updated_at" = ${now}::timestamp
      FROM unnest(${completions.map((c) => c.subtaskId)}::text[], ${completions.map((c) => c.leaseId)}::text[],
                  ${completions.map((c) => JSON.stringify(c.result))}::text[], ${completions.map((c) => c.resultKey)}::text[])
        AS done("id", "lease_id", "result", "result_key")
      WHERE s."id" IN (SELECT "id" FROM "locked") AND s."id" = done."id" AND s."owner_id" = ${ownerId}
        AND s."status" = 'leased' AND ${held('s.', sql`done."lease_id"`, sql`${now}::timestamp`)}
      RETURNING ${settledColumns('s.')}`);
    return rows.map(subtaskFrom);
  }
  // One statement for the batch: the values joined in (UPDATE … FROM, SQLite 3.33 and later).
  const values = join(completions.map((c) => sql`(${c.subtaskId}, ${c.leaseId}, ${json(c.result)}, ${c.resultKey})`));
  const rows = await db.all(sql`
    WITH done("id", "lease_id", "result", "result_key") AS (VALUES ${values})
    UPDATE "subtasks" SET "status" = 'completed', "result" = done."result", "result_key" = done."result_key",
      ${winner('"subtasks".', 'done.')},
      "completed_at" = ${now}, "lease_expires_at" = NULL, "error" = NULL, "updated_at" = ${now}
    FROM done
    WHERE "subtasks"."id" = done."id" AND "subtasks"."owner_id" = ${ownerId}
      AND "subtasks"."status" = 'leased' AND ${held('"subtasks".', sql`done."lease_id"`, sql`${now}`)}
    RETURNING ${settledColumns('"subtasks".')}`);
  return rows.map(subtaskFrom);
}

/**
 * Results: each listed subtask whose lease its poster still holds (same
 * lease id, not yet expired) becomes completed with its result. Returns the
 * rows completed, as they are now. One statement on PostgreSQL; one per
 * result on SQLite.
 *
 * PostgreSQL: the rows are locked first, in id order (the CTE), as the lease
 * extension (extend.ts) locks them. A batch of results and a heartbeat over
 * the same leases then queue behind each other, never lock each other in a
 * circle: in whatever order the UPDATE's plan meets the rows, the locks are
 * already held.
 */
import { join, json, type Sql, sql } from '../../db/sql.ts';
import { type SubtaskRow, settledColumns, subtaskFrom } from '../subtasks.ts';

export interface Completion {
  subtaskId: string;
  leaseId: string;
  result: unknown;
  /** SHA-256 of the result's canonical JSON: equal results, equal keys. */
  resultKey: string;
}

export async function completeSubtasks(db: Sql, ownerId: string, completions: Completion[], now: Date): Promise<SubtaskRow[]> {
  if (completions.length === 0) return [];
  if (db.dialect === 'postgresql') {
    const ids = completions.map((c) => c.subtaskId);
    const rows = await db.all(sql`
      WITH "locked" AS (SELECT "id" FROM "subtasks" WHERE "id" = ANY(${ids}::text[]) ORDER BY "id" FOR UPDATE)
      UPDATE "subtasks" s SET "status" = 'completed', "result" = done."result"::jsonb, "result_key" = done."result_key",
        "completed_at" = ${now}::timestamp, "lease_expires_at" = NULL, "error" = NULL, "updated_at" = ${now}::timestamp
      FROM unnest(${completions.map((c) => c.subtaskId)}::text[], ${completions.map((c) => c.leaseId)}::text[],
                  ${completions.map((c) => JSON.stringify(c.result))}::text[], ${completions.map((c) => c.resultKey)}::text[])
        AS done("id", "lease_id", "result", "result_key")
      WHERE s."id" IN (SELECT "id" FROM "locked") AND s."id" = done."id" AND s."lease_id" = done."lease_id"
        AND s."owner_id" = ${ownerId}
        AND s."status" = 'leased' AND s."lease_expires_at" > ${now}::timestamp
      RETURNING ${settledColumns('s.')}`);
    return rows.map(subtaskFrom);
  }
  // One statement for the batch: the values joined in (UPDATE … FROM, SQLite 3.33 and later).
  const values = join(completions.map((c) => sql`(${c.subtaskId}, ${c.leaseId}, ${json(c.result)}, ${c.resultKey})`));
  const rows = await db.all(sql`
    WITH done("id", "lease_id", "result", "result_key") AS (VALUES ${values})
    UPDATE "subtasks" SET "status" = 'completed', "result" = done."result", "result_key" = done."result_key",
      "completed_at" = ${now}, "lease_expires_at" = NULL, "error" = NULL, "updated_at" = ${now}
    FROM done
    WHERE "subtasks"."id" = done."id" AND "subtasks"."lease_id" = done."lease_id" AND "subtasks"."owner_id" = ${ownerId}
      AND "subtasks"."status" = 'leased' AND "subtasks"."lease_expires_at" > ${now}
    RETURNING ${settledColumns('"subtasks".')}`);
  return rows.map(subtaskFrom);
}

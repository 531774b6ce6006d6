/**
 * Results: each listed subtask whose lease its poster still holds (same
 * lease id, not yet expired) becomes completed with its result. Returns the
 * rows completed, as they are now. One statement on PostgreSQL; one per
 * result on SQLite.
 */
import { json, type Sql, sql } from '../../db/sql.ts';
import { type SubtaskRow, subtaskColumns, subtaskFrom } from '../subtasks.ts';

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
    const rows = await db.all(sql`
      UPDATE "subtasks" s SET "status" = 'completed', "result" = done."result"::jsonb, "result_key" = done."result_key",
        "completed_at" = ${now}::timestamp, "lease_expires_at" = NULL, "error" = NULL, "updated_at" = ${now}::timestamp
      FROM unnest(${completions.map((c) => c.subtaskId)}::text[], ${completions.map((c) => c.leaseId)}::text[],
                  ${completions.map((c) => JSON.stringify(c.result))}::text[], ${completions.map((c) => c.resultKey)}::text[])
        AS done("id", "lease_id", "result", "result_key")
      WHERE s."id" = done."id" AND s."lease_id" = done."lease_id" AND s."owner_id" = ${ownerId}
        AND s."status" = 'leased' AND s."lease_expires_at" > ${now}::timestamp
      RETURNING ${subtaskColumns('s.')}`);
    return rows.map(subtaskFrom);
  }
  const completed: SubtaskRow[] = [];
  for (const c of completions) {
    const row = await db.one(sql`
      UPDATE "subtasks" SET "status" = 'completed', "result" = ${json(c.result)}, "result_key" = ${c.resultKey},
        "completed_at" = ${now}, "lease_expires_at" = NULL, "error" = NULL, "updated_at" = ${now}
      WHERE "id" = ${c.subtaskId} AND "lease_id" = ${c.leaseId} AND "owner_id" = ${ownerId}
        AND "status" = 'leased' AND "lease_expires_at" > ${now}
      RETURNING ${subtaskColumns()}`);
    if (row) completed.push(subtaskFrom(row));
  }
  return completed;
}

/**
 * A redrive's statements: the subtasks of a parent that ended without a
 * decision (failed, or cancelled when their parent failed) and whose seq no
 * replica decided, and each queued again with fresh attempts.
 */
import { type Sql, sql } from '../../db/sql.ts';
import type { ParentRef } from './cancel.ts';
import { type SubtaskRow, subtaskColumns, subtaskFrom } from '../subtasks.ts';

export async function endedUndecided(db: Sql, parent: ParentRef): Promise<SubtaskRow[]> {
  const of = 'executionId' in parent ? sql`"execution_id" = ${parent.executionId}` : sql`"coordination_id" = ${parent.coordinationId}`;
  const rows = await db.all(sql`
    SELECT ${subtaskColumns('s.')} FROM "subtasks" s WHERE s.${of} AND s."status" IN ('failed', 'cancelled')
      AND NOT EXISTS (
        SELECT 1 FROM "subtasks" o WHERE o."seq" = s."seq" AND o."accepted" = ${true}
          AND (o."execution_id" = s."execution_id" OR o."coordination_id" = s."coordination_id"))
    ORDER BY s."seq", s."replica"`);
  return rows.map(subtaskFrom);
}

/** Queued again for `assigneeId` with fresh attempts (its attempts' history stays in subtask_attempts). */
export async function requeueSubtask(db: Sql, id: string, to: { assigneeId: string; claimBy: Date }, now: Date): Promise<boolean> {
  return (
    (await db.run(sql`
      UPDATE "subtasks" SET "status" = 'assigned', "assignee_id" = ${to.assigneeId}, "assigned_at" = ${now}, "claim_by" = ${to.claimBy},
        "attempts" = 0, "error" = NULL, "completed_at" = NULL, "lease_id" = NULL, "lease_expires_at" = NULL, "attempt_deadline_at" = NULL,
        "backup_assignee_id" = NULL, "backup_lease_id" = NULL, "backup_lease_expires_at" = NULL, "backup_deadline_at" = NULL,
        "updated_at" = ${now}
      WHERE "id" = ${id} AND "status" IN ('failed', 'cancelled')`)) === 1
  );
}

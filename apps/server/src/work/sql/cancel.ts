/**
 * Withdraw a parent's open work (all of it, or one subtask's replicas): open
 * subtasks become cancelled and their open attempts end as cancelled, which
 * counts against nobody. A holder's late result is then refused.
 */
import { inList, type Sql, sql } from '../../db/sql.ts';

export type ParentRef = { executionId: string } | { coordinationId: string };

export async function cancelOpen(db: Sql, parent: ParentRef, seq: number | null, now: Date): Promise<number> {
  const of = 'executionId' in parent ? sql`"execution_id" = ${parent.executionId}` : sql`"coordination_id" = ${parent.coordinationId}`;
  const one = seq === null ? sql`` : sql` AND "seq" = ${seq}`;
  const cancelled = await db.all<{ id: string }>(sql`
    UPDATE "subtasks" SET "status" = 'cancelled', "lease_id" = NULL, "lease_expires_at" = NULL, "backup_lease_expires_at" = NULL, "claim_by" = NULL, "completed_at" = ${now}, "updated_at" = ${now}
    WHERE ${of}${one} AND "status" IN ('pending', 'assigned', 'leased')
    RETURNING "id"`);
  if (cancelled.length === 0) return 0;
  await db.run(sql`
    UPDATE "subtask_attempts" SET "outcome" = 'cancelled', "ended_at" = ${now}
    WHERE "subtask_id" ${inList(cancelled.map((c) => c.id))} AND "outcome" = 'open'`);
  return cancelled.length;
}

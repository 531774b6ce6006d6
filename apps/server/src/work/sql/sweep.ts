/** What the sweep looks at: leases that ran out, and assignments nobody claimed in time. Oldest first, `limit` a pass. */
import { type Sql, sql } from '../../db/sql.ts';
import { type SubtaskRow, subtaskColumns, subtaskFrom } from '../subtasks.ts';

export async function expiredLeases(db: Sql, now: Date, limit: number): Promise<SubtaskRow[]> {
  const rows = await db.all(
    sql`SELECT ${subtaskColumns()} FROM "subtasks" WHERE "status" = 'leased' AND "lease_expires_at" <= ${now} ORDER BY "lease_expires_at" LIMIT ${limit}`,
  );
  return rows.map(subtaskFrom);
}

/** Assignments whose claim window closed, and failed subtasks whose retry backoff is over (pending): both by claim_by. */
export async function unclaimedAssignments(db: Sql, now: Date, limit: number): Promise<SubtaskRow[]> {
  const rows = await db.all(
    sql`SELECT ${subtaskColumns()} FROM "subtasks" WHERE "status" IN ('assigned', 'pending') AND "claim_by" <= ${now} ORDER BY "claim_by" LIMIT ${limit}`,
  );
  return rows.map(subtaskFrom);
}

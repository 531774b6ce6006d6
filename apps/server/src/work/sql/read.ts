/** Subtasks by id, the caller's only (another owner's subtask does not exist, as far as it can tell). */
import { inList, type Sql, sql } from '../../db/sql.ts';
import { type SubtaskRow, subtaskColumns, subtaskFrom } from '../subtasks.ts';

export async function readSubtasks(db: Sql, ownerId: string | null, ids: string[]): Promise<SubtaskRow[]> {
  if (ids.length === 0) return [];
  const owner = ownerId === null ? sql`` : sql` AND "owner_id" = ${ownerId}`;
  const rows = await db.all(sql`SELECT ${subtaskColumns()} FROM "subtasks" WHERE "id" ${inList(ids)}${owner}`);
  return rows.map(subtaskFrom);
}

/** An assignee's open subtasks (assigned or leased), across all its work. */
export async function openSubtasksOf(db: Sql, assigneeId: string): Promise<SubtaskRow[]> {
  const rows = await db.all(
    sql`SELECT ${subtaskColumns()} FROM "subtasks" WHERE "assignee_id" = ${assigneeId} AND "status" IN ('assigned', 'leased')`,
  );
  return rows.map(subtaskFrom);
}

/**
 * What stealing and speculation read: the unclaimed subtasks an assignee
 * could take from others, and how a parent's subtasks are running.
 */
import { fromJson, inList, raw, type Sql, sql, time } from '../../db/sql.ts';
import type { ParentKind, Takeable } from '../parent.ts';
import { holdsNoCopy } from './copies.ts';

const column = (kind: ParentKind) => raw(kind === 'execution' ? '"execution_id"' : '"coordination_id"');

/**
 * Up to `limit` subtasks of these parents assigned to one of `victims` (not
 * the thief) and not yet claimed, that `thiefId` holds no copy of (no
 * second replica of a subtask it has): highest priority and oldest parent
 * first, and from the far end of each parent's queue, where its own
 * assignee will come last. Read from the victims' queues (the claim index:
 * assignee, status), so that the parents' finished subtasks are never
 * visited.
 */
export async function stealCandidates(
  db: Sql,
  input: { ownerId: string; thiefId: string; victims: string[]; kind: ParentKind; parentIds: string[]; limit: number },
): Promise<Takeable[]> {
  const victims = input.victims.filter((id) => id !== input.thiefId);
  if (input.parentIds.length === 0 || victims.length === 0) return [];
  const of = column(input.kind);
  const rows = await db.all<{ id: string; parent_id: string; seq: unknown; assignee_id: string; requires: unknown }>(sql`
    SELECT s."id", s.${of} AS "parent_id", s."seq", s."assignee_id", s."requires" FROM "subtasks" s
    WHERE s."assignee_id" ${inList(victims)} AND s."status" = 'assigned' AND s.${of} ${inList(input.parentIds)}
      AND s."owner_id" = ${input.ownerId} AND ${holdsNoCopy('s', input.thiefId, input.kind)}
    ORDER BY s."priority_rank", s."created_at", s."seq" DESC, s."replica" DESC LIMIT ${raw(String(Math.max(1, Math.floor(input.limit))))}`);
  return rows.map((r) => ({
    id: r.id,
    parentId: r.parent_id,
    seq: Number(r.seq),
    assigneeId: r.assignee_id,
    requires: fromJson<string[] | null>(r.requires) ?? [],
  }));
}

/** One of a parent's subtasks as speculation reads it. */
export interface SubtaskRun extends Takeable {
  status: string;
  /** Its current (or winning) copy's start, and its end once completed. */
  startedAt: Date | null;
  completedAt: Date | null;
  backupAssigneeId: string | null;
  backupRunning: boolean;
}

/** Every subtask of these parents (but the cancelled), with when its current copy started. */
export async function parentRuns(db: Sql, kind: ParentKind, parentIds: string[]): Promise<SubtaskRun[]> {
  if (parentIds.length === 0) return [];
  const of = column(kind);
  const rows = await db.all(sql`
    SELECT s."id", s.${of} AS "parent_id", s."seq", s."status", s."assignee_id", s."requires", s."backup_assignee_id",
      s."backup_lease_expires_at", s."completed_at", a."started_at" AS "copy_started_at"
    FROM "subtasks" s LEFT JOIN "subtask_attempts" a ON a."id" = s."lease_id"
    WHERE s.${of} ${inList(parentIds)} AND s."status" <> 'cancelled'`);
  return rows.map((r) => ({
    id: r.id as string,
    parentId: r.parent_id as string,
    seq: Number(r.seq),
    status: r.status as string,
    assigneeId: (r.assignee_id as string | null) ?? '',
    requires: fromJson<string[] | null>(r.requires) ?? [],
    startedAt: time(r.copy_started_at),
    completedAt: time(r.completed_at),
    backupAssigneeId: (r.backup_assignee_id as string | null) ?? null,
    backupRunning: r.backup_lease_expires_at !== null && r.backup_lease_expires_at !== undefined,
  }));
}

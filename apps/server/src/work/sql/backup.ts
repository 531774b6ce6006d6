/**
 * Speculation's statements. A backup copy is a second lease on a running
 * subtask, held by another assignee beside the first (the subtask's
 * backup_* columns) with its own attempt (backup = true); the first result
 * under either lease decides the subtask (complete.ts).
 */
import { earliest, inList, join, newUuid, plusSeconds, type Sql, sql } from '../../db/sql.ts';
import { type SubtaskRow, subtaskColumns, subtaskFrom } from '../subtasks.ts';
import { holdsNoCopy, lockCopies } from './copies.ts';

export interface BackupInput {
  ownerId: string;
  assigneeId: string;
  ids: string[];
  leaseSeconds: number | undefined;
  now: Date;
}

/**
 * Start backup copies of these running subtasks for the assignee: those still running, with no backup yet, held by
 * someone else, of which it holds no other copy (a replica) now (copies.ts).
 */
export async function startBackups(db: Sql, { ownerId, assigneeId, ids, leaseSeconds, now }: BackupInput): Promise<SubtaskRow[]> {
  if (ids.length === 0) return [];
  // A backup copy is an attempt of its own: its lease never runs past its own time limit.
  const lease = earliest(leaseSeconds === undefined ? sql`"lease_seconds"` : sql`${leaseSeconds}`, sql`"max_attempt_seconds"`);
  const free = sql`s."id" ${inList(ids)} AND s."owner_id" = ${ownerId} AND s."status" = 'leased' AND s."lease_expires_at" > ${now}
    AND s."backup_lease_expires_at" IS NULL AND s."assignee_id" <> ${assigneeId} AND ${holdsNoCopy('s', assigneeId)}`;
  const set = sql`"backup_assignee_id" = ${assigneeId}, "backup_lease_id" = ${newUuid},
    "backup_lease_expires_at" = ${plusSeconds(now, lease)}, "backup_deadline_at" = ${plusSeconds(now, sql`"max_attempt_seconds"`)},
    "updated_at" = ${now}`;
  await lockCopies(db, ids);
  const rows =
    db.dialect === 'postgresql'
      ? await db.all(sql`
          WITH picked AS (SELECT s."id" FROM "subtasks" s WHERE ${free} ORDER BY s."id" FOR UPDATE SKIP LOCKED)
          UPDATE "subtasks" SET ${set} WHERE "id" IN (SELECT "id" FROM picked) RETURNING ${subtaskColumns()}`)
      : await db.all(
          sql`UPDATE "subtasks" SET ${set} WHERE "id" IN (SELECT s."id" FROM "subtasks" s WHERE ${free}) RETURNING ${subtaskColumns()}`,
        );
  const started = rows.map(subtaskFrom);
  if (started.length === 0) return started;
  const attempts = started.map(
    (s) =>
      sql`(${s.backupLeaseId}, ${s.id}, ${s.ownerId}, ${s.networkId}, ${s.executionId}, ${s.swarmId}, ${assigneeId}, 'open', ${true}, ${now})`,
  );
  await db.run(sql`
    INSERT INTO "subtask_attempts" ("id", "subtask_id", "owner_id", "network_id", "execution_id", "swarm_id", "assignee_id", "outcome", "backup", "started_at")
    VALUES ${join(attempts)}`);
  return started;
}

/**
 * The backup copy's holder failed it, or its lease ran out: the subtask
 * runs on under its first lease. Conditional on the backup lease still
 * being this one (and, with `expiredBy`, still expired then).
 */
export async function dropBackup(db: Sql, id: string, backupLeaseId: string, now: Date, expiredBy?: Date): Promise<boolean> {
  const expired = expiredBy ? sql` AND "backup_lease_expires_at" <= ${expiredBy}` : sql``;
  return (
    (await db.run(sql`
      UPDATE "subtasks" SET "backup_assignee_id" = NULL, "backup_lease_id" = NULL, "backup_lease_expires_at" = NULL, "backup_deadline_at" = NULL,
        "updated_at" = ${now}
      WHERE "id" = ${id} AND "status" = 'leased' AND "backup_lease_id" = ${backupLeaseId} AND "backup_lease_expires_at" IS NOT NULL${expired}`)) ===
    1
  );
}

/**
 * The first copy's holder failed it, or its lease ran out, while a backup
 * runs: the backup becomes the subtask's lease (its holder carries on, and
 * nothing goes back to the queue). Conditional on the first lease still
 * being this one.
 */
export async function promoteBackup(db: Sql, id: string, leaseId: string, now: Date, expiredBy?: Date): Promise<boolean> {
  const expired = expiredBy ? sql` AND "lease_expires_at" <= ${expiredBy}` : sql``;
  return (
    (await db.run(sql`
      UPDATE "subtasks" SET "assignee_id" = "backup_assignee_id", "lease_id" = "backup_lease_id", "lease_expires_at" = "backup_lease_expires_at",
        "attempt_deadline_at" = "backup_deadline_at",
        "backup_assignee_id" = NULL, "backup_lease_id" = NULL, "backup_lease_expires_at" = NULL, "backup_deadline_at" = NULL, "updated_at" = ${now}
      WHERE "id" = ${id} AND "status" = 'leased' AND "lease_id" = ${leaseId}
        AND "backup_lease_expires_at" > ${now}${expired}`)) === 1
  );
}

/** Backup leases that ran out (the sweep drops them). */
export async function expiredBackups(db: Sql, now: Date, limit: number): Promise<SubtaskRow[]> {
  const rows = await db.all(sql`
    SELECT ${subtaskColumns()} FROM "subtasks" WHERE "backup_lease_expires_at" <= ${now} AND "status" = 'leased'
    ORDER BY "backup_lease_expires_at" LIMIT ${limit}`);
  return rows.map(subtaskFrom);
}

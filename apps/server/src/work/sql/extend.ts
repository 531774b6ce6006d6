/**
 * Lease extension: every listed lease that its holder still holds (same
 * lease id, not yet expired; a subtask's first lease or its backup copy's)
 * runs `seconds` (else the subtask's own lease_seconds) from now. One statement on PostgreSQL; one per lease on
 * SQLite (a prepared statement, microseconds each). PostgreSQL locks the
 * rows in id order first, as results do (see complete.ts), the caller's own only.
 */
import { earliest, plusSeconds, type Query, raw, type Sql, sql, time } from '../../db/sql.ts';
import { held } from './complete.ts';

export interface LeaseRef {
  subtask_id: string;
  lease_id: string;
}

export interface Extended {
  subtaskId: string;
  leaseId: string;
  leaseExpiresAt: Date;
  assigneeId: string;
  /** Who holds it: an agent (network work) or a swarm member. */
  kind: 'agent' | 'member';
}

/**
 * The posted lease (the first copy's or the backup's) runs until `until`, but never past its attempt's time limit
 * (a heartbeat cannot keep an attempt going past max_attempt_seconds: the lease then runs out, and the sweep hands
 * the subtask on).
 */
function extendedTo(s: string, posted: Query, until: Query): Query {
  const col = (c: string) => raw(`${s}"${c}"`);
  const backup = sql`${col('backup_lease_id')} = ${posted}`;
  const capped = (deadline: string) => earliest(until, sql`COALESCE(${col(deadline)}, ${until})`);
  return sql`"lease_expires_at" = CASE WHEN ${backup} THEN ${col('lease_expires_at')} ELSE ${capped('attempt_deadline_at')} END,
    "backup_lease_expires_at" = CASE WHEN ${backup} THEN ${capped('backup_deadline_at')} ELSE ${col('backup_lease_expires_at')} END`;
}

/** The extended lease as its holder sees it: its id, its end, and who holds it. */
function answer(s: string, posted: Query): Query {
  const backup = sql`${raw(`${s}"backup_lease_id"`)} = ${posted}`;
  const pick = (backupColumn: string, column: string) =>
    sql`CASE WHEN ${backup} THEN ${raw(`${s}"${backupColumn}"`)} ELSE ${raw(`${s}"${column}"`)} END`;
  return sql`${raw(`${s}"id"`)}, ${posted} AS "lease_id", ${pick('backup_lease_expires_at', 'lease_expires_at')} AS "lease_expires_at",
    ${pick('backup_assignee_id', 'assignee_id')} AS "assignee_id", ${raw(`${s}"coordination_id"`)}`;
}

export async function extendLeases(
  db: Sql,
  ownerId: string,
  leases: LeaseRef[],
  seconds: number | undefined,
  now: Date,
): Promise<Extended[]> {
  const lease = seconds === undefined ? sql`"lease_seconds"` : sql`${seconds}`;
  const decode = (r: Record<string, unknown>): Extended => ({
    subtaskId: r.id as string,
    leaseId: r.lease_id as string,
    leaseExpiresAt: time(r.lease_expires_at),
    assigneeId: r.assignee_id as string,
    kind: r.coordination_id ? 'member' : 'agent',
  });
  if (db.dialect === 'postgresql') {
    const ids = leases.map((l) => l.subtask_id);
    const rows = await db.all(sql`
      WITH "locked" AS (SELECT "id" FROM "subtasks" WHERE "id" = ANY(${ids}::text[]) AND "owner_id" = ${ownerId} ORDER BY "id" FOR UPDATE)
      UPDATE "subtasks" s SET ${extendedTo('s.', sql`posted."lease_id"`, plusSeconds(now, lease))}, "updated_at" = ${now}::timestamp
      FROM unnest(${leases.map((l) => l.subtask_id)}::text[], ${leases.map((l) => l.lease_id)}::text[]) AS posted("id", "lease_id")
      WHERE s."id" IN (SELECT "id" FROM "locked") AND s."id" = posted."id" AND s."owner_id" = ${ownerId}
        AND s."status" = 'leased' AND ${held('s.', sql`posted."lease_id"`, sql`${now}::timestamp`)}
      RETURNING ${answer('s.', sql`posted."lease_id"`)}`);
    return rows.map(decode);
  }
  const extended: Extended[] = [];
  for (const l of leases) {
    // SQLite's RETURNING cannot name another table: the posted lease goes in as a value.
    const row = await db.one(sql`
      UPDATE "subtasks" SET ${extendedTo('', sql`${l.lease_id}`, plusSeconds(now, lease))}, "updated_at" = ${now}
      WHERE "id" = ${l.subtask_id} AND "owner_id" = ${ownerId} AND "status" = 'leased'
        AND ${held('', sql`${l.lease_id}`, sql`${now}`)}
      RETURNING ${answer('', sql`${l.lease_id}`)}`);
    if (row) extended.push(decode(row));
  }
  return extended;
}

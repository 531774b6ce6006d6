/**
 * Lease extension: every listed lease that its holder still holds (same
 * lease id, not yet expired) runs `seconds` (else the subtask's own
 * lease_seconds) from now. One statement on PostgreSQL; one per lease on
 * SQLite (a prepared statement, microseconds each). PostgreSQL locks the
 * rows in id order first, as results do (see complete.ts).
 */
import { plusSeconds, type Sql, sql, time } from '../../db/sql.ts';

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
      WITH "locked" AS (SELECT "id" FROM "subtasks" WHERE "id" = ANY(${ids}::text[]) ORDER BY "id" FOR UPDATE)
      UPDATE "subtasks" s SET "lease_expires_at" = ${plusSeconds(now, lease)}, "updated_at" = ${now}::timestamp
      FROM unnest(${leases.map((l) => l.subtask_id)}::text[], ${leases.map((l) => l.lease_id)}::text[]) AS held("id", "lease_id")
      WHERE s."id" IN (SELECT "id" FROM "locked") AND s."id" = held."id" AND s."lease_id" = held."lease_id"
        AND s."owner_id" = ${ownerId}
        AND s."status" = 'leased' AND s."lease_expires_at" > ${now}::timestamp
      RETURNING s."id", s."lease_id", s."lease_expires_at", s."assignee_id", s."coordination_id"`);
    return rows.map(decode);
  }
  const extended: Extended[] = [];
  for (const l of leases) {
    const row = await db.one(sql`
      UPDATE "subtasks" SET "lease_expires_at" = ${plusSeconds(now, lease)}, "updated_at" = ${now}
      WHERE "id" = ${l.subtask_id} AND "lease_id" = ${l.lease_id} AND "owner_id" = ${ownerId}
        AND "status" = 'leased' AND "lease_expires_at" > ${now}
      RETURNING "id", "lease_id", "lease_expires_at", "assignee_id", "coordination_id"`);
    if (row) extended.push(decode(row));
  }
  return extended;
}

/**
 * Moving a subtask away from whoever held it or was to claim it: to another
 * assignee, or to failed or cancelled. The move is conditional on the state
 * the caller saw still holding, so of several movers (a failure report, the
 * sweep of another instance) exactly one moves it.
 */
import { inList, type Sql, sql } from '../../db/sql.ts';

/** The state the caller saw. */
export type MovedFrom =
  /** Held under this lease; with `expiredBy`, only if the lease had run out by then (the sweep: a lease extended meanwhile is left alone). */
  | { status: 'leased'; leaseId: string; expiredBy?: Date }
  /** Assigned to this assignee; with `unclaimedBy`, only if its claim window had closed by then. */
  | { status: 'assigned'; assigneeId: string; unclaimedBy?: Date }
  /** Waiting out a retry's backoff after this assignee's attempt failed; with `dueBy`, only if it was due by then. */
  | { status: 'pending'; assigneeId: string; dueBy?: Date };

export type MovedTo =
  | { status: 'assigned'; assigneeId: string; claimBy: Date; error: string | null }
  /** Retried once `retryAt` comes (the sweep hands it out then); the assignee is the one whose attempt failed. */
  | { status: 'pending'; assigneeId: string; retryAt: Date; error: string | null }
  | { status: 'failed' | 'cancelled'; error: string };

export async function moveSubtask(db: Sql, id: string, from: MovedFrom, to: MovedTo, now: Date): Promise<boolean> {
  const by = (at: Date | undefined) => (at ? sql` AND "claim_by" <= ${at}` : sql``);
  const held =
    from.status === 'leased'
      ? sql`"status" = 'leased' AND "lease_id" = ${from.leaseId}${from.expiredBy ? sql` AND "lease_expires_at" <= ${from.expiredBy}` : sql``}`
      : from.status === 'assigned'
        ? sql`"status" = 'assigned' AND "assignee_id" = ${from.assigneeId}${by(from.unclaimedBy)}`
        : sql`"status" = 'pending' AND "assignee_id" = ${from.assigneeId}${by(from.dueBy)}`;
  // A backup copy that was running goes with it (the engine promotes a live one before a move; this one had run out).
  const noBackup = sql`"backup_assignee_id" = NULL, "backup_lease_id" = NULL, "backup_lease_expires_at" = NULL, "attempt_deadline_at" = NULL, "backup_deadline_at" = NULL`;
  const next =
    to.status === 'assigned'
      ? sql`"status" = 'assigned', "assignee_id" = ${to.assigneeId}, "assigned_at" = ${now}, "claim_by" = ${to.claimBy}, "lease_id" = NULL, "lease_expires_at" = NULL, "error" = ${to.error}`
      : to.status === 'pending'
        ? sql`"status" = 'pending', "assignee_id" = ${to.assigneeId}, "claim_by" = ${to.retryAt}, "lease_id" = NULL, "lease_expires_at" = NULL, "error" = ${to.error}`
        : sql`"status" = ${to.status}, "lease_id" = NULL, "lease_expires_at" = NULL, "claim_by" = NULL, "completed_at" = ${now}, "error" = ${to.error}`;
  return (await db.run(sql`UPDATE "subtasks" SET ${next}, ${noBackup}, "updated_at" = ${now} WHERE "id" = ${id} AND ${held}`)) === 1;
}

/** An assignment whose claim window closed goes on waiting for the same assignee, with a new window (nobody else could take it). */
export async function renewClaimWindow(db: Sql, id: string, assigneeId: string, claimBy: Date, now: Date): Promise<boolean> {
  return (
    (await db.run(sql`
      UPDATE "subtasks" SET "claim_by" = ${claimBy}, "updated_at" = ${now}
      WHERE "id" = ${id} AND "status" = 'assigned' AND "assignee_id" = ${assigneeId} AND "claim_by" <= ${now}`)) === 1
  );
}

/**
 * Assigned, unclaimed work that should move on at the next sweep instead of
 * after its claim timeout: its agent went offline, or left the network.
 */
export async function handOnAt(
  db: Sql,
  which: { assigneeId: string } | { networkId: string; keeping: string[] },
  now: Date,
): Promise<number> {
  const where =
    'assigneeId' in which
      ? sql`"assignee_id" = ${which.assigneeId}`
      : sql`"network_id" = ${which.networkId} AND NOT ("assignee_id" ${inListOrNone(which.keeping)})`;
  return db.run(sql`UPDATE "subtasks" SET "claim_by" = ${now}, "updated_at" = ${now} WHERE "status" = 'assigned' AND ${where}`);
}

/** `IN (…)` that is false for an empty list on both dialects. */
const inListOrNone = (values: string[]) => (values.length ? inList(values) : sql`IN (NULL)`);

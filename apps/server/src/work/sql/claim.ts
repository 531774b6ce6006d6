/**
 * Claim: lease up to `max` of an assignee's assigned subtasks, highest
 * priority first and oldest first within a priority, and open an attempt
 * for each (its id is the lease id). A steal names the subtasks instead
 * (assigned to others and still unclaimed); they become the thief's,
 * unless it has come to hold another copy of one meanwhile (copies.ts).
 *
 * PostgreSQL: one statement. The candidates are locked with FOR UPDATE SKIP
 * LOCKED, so concurrent claims for one assignee take different subtasks and
 * never wait on each other; the claimed rows' queued parents are marked
 * running in the same statement. SQLite: one UPDATE … RETURNING, one INSERT
 * and the parents' mark where needed, under the database gate (nothing
 * else runs meanwhile). A host on probation (a host never validated, or
 * doubted, whose result awaits its check) gets only copies checking others'
 * results, one at a time: one look at its record per claim, and at its
 * pending checks only while on probation.
 */
import { earliest, inList, join, newUuid, plusSeconds, type Query, raw, type Sql, sql } from '../../db/sql.ts';
import { markStarted, PARENT_TABLES, type ParentKind, parentOf } from '../parent.ts';
import { type SubtaskRow, subtaskColumns, subtaskFrom } from '../subtasks.ts';
import { holdsNoCopy, lockCopies } from './copies.ts';

export interface ClaimInput {
  ownerId: string;
  assigneeId: string;
  /** Steal these (assigned to others, still unclaimed) instead of taking the assignee's own. */
  ids?: string[] | undefined;
  max: number;
  /** The lease asked for; absent: each subtask's own lease_seconds. */
  leaseSeconds: number | undefined;
  now: Date;
  /** Parents known to be running already: SQLite's claim marks the others in its transaction. */
  running?: ReadonlySet<string> | undefined;
}

const ORDER = sql`"priority_rank", "created_at", "seq", "replica"`;

/** A claimed row; `parentStarted`: its parent is running now (marked by the claim's own statement, or before). */
export type ClaimedRow = SubtaskRow & { parentStarted?: boolean };

/**
 * PostgreSQL: the claim's statement marks the claimed rows' queued parents running too, each parent locked with SKIP
 * LOCKED, so the claim still waits for nothing (a parent another transaction holds is left to markStarted after).
 * `parent_started` says, per row, that its parent needs no more: marked here, or not queued before the statement.
 */
function startedParents(now: Date): { ctes: Query; column: Query } {
  const kinds = Object.entries(PARENT_TABLES).map(([kind, { table, column }]) => ({
    cte: raw(`"started_${kind}"`),
    table: raw(`"${table}"`),
    column: raw(`"${column}"`),
  }));
  return {
    ctes: join(
      kinds.map(
        (k) => sql`, ${k.cte} AS (
        UPDATE ${k.table} SET "status" = 'running', "started_at" = ${now}::timestamp, "updated_at" = ${now}::timestamp
        WHERE "id" IN (SELECT p."id" FROM ${k.table} p WHERE p."id" IN (SELECT ${k.column} FROM leased) AND p."status" = 'queued'
          FOR NO KEY UPDATE SKIP LOCKED)
        RETURNING "id")`,
      ),
      '',
    ),
    column: join(
      kinds.map(
        (k) => sql`NOT EXISTS (SELECT 1 FROM ${k.table} p WHERE p."id" = l.${k.column} AND p."status" = 'queued'
          AND p."id" NOT IN (SELECT "id" FROM ${k.cte}))`,
      ),
      ' AND ',
    ),
  };
}

export async function claimSubtasks(
  db: Sql,
  { ownerId, assigneeId, ids, max, leaseSeconds, now, running }: ClaimInput,
): Promise<ClaimedRow[]> {
  if (ids?.length === 0) return [];
  // A steal is checked again here: the thief must still hold no other copy of what it takes.
  const whose = ids ? sql`s."id" ${inList(ids)} AND ${holdsNoCopy('s', assigneeId)}` : sql`s."assignee_id" = ${assigneeId}`;
  // The lease asked for, never past the attempt's time limit (max_attempt_seconds from the claim).
  const lease = earliest(leaseSeconds === undefined ? sql`"lease_seconds"` : sql`${leaseSeconds}`, sql`"max_attempt_seconds"`);
  const deadline = plusSeconds(now, sql`"max_attempt_seconds"`);
  // A literal, not a parameter: SQLite plans `IN (… LIMIT ?)` as a scan of every waiting row (~3× the cost here).
  if (!Number.isInteger(max) || max < 1) throw new Error(`claim: max must be a positive integer (got ${max})`);
  const limit = raw(String(max));
  // A host on probation (README "Verification") takes copies that check others' results (replica > 0), nothing new,
  // and those one at a time: none while it holds one, or one it handed in awaits its own check (it disagreed; a
  // tie-breaker decides). A never-validated host (enrolled by an adaptive parent) holding a subtask of its own takes
  // no other of its own either: its result may be on its way. Every lookup names the claimant only: each is read
  // once per statement, the leased ones only for a host with a record never validated.
  const probation = sql`(NOT EXISTS (
      SELECT 1 FROM "validation_records" v WHERE v."id" = ${assigneeId} AND (v."probation_until" > ${now}
        OR (v."valid" = 0 AND EXISTS (
          SELECT 1 FROM "subtasks" o WHERE o."assignee_id" = ${assigneeId} AND o."status" = 'leased' AND o."replica" = 0))))
    OR (s."replica" > 0 AND NOT EXISTS (
      SELECT 1 FROM "subtasks" p WHERE p."assignee_id" = ${assigneeId} AND p."replica" > 0
        AND (p."status" = 'leased' OR (p."status" = 'completed' AND p."validation" = 'pending')))))`;
  if (db.dialect === 'postgresql') {
    if (ids) await lockCopies(db, ids);
    const started = startedParents(now);
    const rows = await db.all(sql`
      WITH picked AS (
        SELECT s."id" FROM "subtasks" s
        WHERE ${whose} AND s."status" = 'assigned' AND s."owner_id" = ${ownerId} AND ${probation}
        ORDER BY ${ORDER} LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      ), leased AS (
        UPDATE "subtasks" SET "status" = 'leased', "assignee_id" = ${assigneeId}, "lease_id" = ${newUuid}, "lease_expires_at" = ${plusSeconds(now, lease)},
          "attempt_deadline_at" = ${deadline}, "claim_by" = NULL, "attempts" = "attempts" + 1, "started_at" = COALESCE("started_at", ${now}::timestamp), "updated_at" = ${now}::timestamp
        WHERE "id" IN (SELECT "id" FROM picked)
        RETURNING ${subtaskColumns()}
      ), opened AS (
        INSERT INTO "subtask_attempts" ("id", "subtask_id", "owner_id", "network_id", "execution_id", "swarm_id", "assignee_id", "outcome", "started_at")
        SELECT "lease_id", "id", "owner_id", "network_id", "execution_id", "swarm_id", "assignee_id", 'open', ${now}::timestamp FROM leased
      )${started.ctes}
      SELECT l.*, ${started.column} AS "parent_started" FROM leased l ORDER BY ${ORDER}`);
    return rows.map((r) => Object.assign(subtaskFrom(r), { parentStarted: r.parent_started === true }));
  }
  const rows = (
    await db.all(sql`
      UPDATE "subtasks" SET "status" = 'leased', "assignee_id" = ${assigneeId}, "lease_id" = ${newUuid}, "lease_expires_at" = ${plusSeconds(now, lease)},
        "attempt_deadline_at" = ${deadline}, "claim_by" = NULL, "attempts" = "attempts" + 1, "started_at" = COALESCE("started_at", ${now}), "updated_at" = ${now}
      WHERE "id" IN (
        SELECT s."id" FROM "subtasks" s WHERE ${whose} AND s."status" = 'assigned' AND s."owner_id" = ${ownerId} AND ${probation}
        ORDER BY ${ORDER} LIMIT ${limit})
      RETURNING ${subtaskColumns()}`)
  ).map(subtaskFrom);
  if (rows.length === 0) return rows;
  const attempts = rows.map(
    (s) => sql`(${s.leaseId}, ${s.id}, ${s.ownerId}, ${s.networkId}, ${s.executionId}, ${s.swarmId}, ${s.assigneeId}, 'open', ${now})`,
  );
  await db.run(sql`
    INSERT INTO "subtask_attempts" ("id", "subtask_id", "owner_id", "network_id", "execution_id", "swarm_id", "assignee_id", "outcome", "started_at")
    VALUES ${join(attempts)}`);
  // Their parents not known to be running, marked in the same transaction (one gate turn, not two).
  const fresh = new Map<ParentKind, Set<string>>();
  for (const s of rows) {
    const of = parentOf(s);
    if (of && !running?.has(of.id)) fresh.set(of.kind, (fresh.get(of.kind) ?? new Set()).add(of.id));
  }
  for (const [kind, parents] of fresh) await markStarted(db, kind, [...parents].sort(), now);
  for (const s of rows as ClaimedRow[]) s.parentStarted = true;
  return rows.sort(
    (a, b) => a.priorityRank - b.priorityRank || a.createdAt.getTime() - b.createdAt.getTime() || a.seq - b.seq || a.replica - b.replica,
  );
}

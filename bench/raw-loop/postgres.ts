/**
 * The work path at PostgreSQL's own speed: `pg` with a pool of 10, no HTTP, no ORM. Per loop iteration two
 * statements, each its own transaction:
 *   - claim: one UPDATE of up to `batch` of the loop's agent's assigned subtasks, picked FOR UPDATE SKIP LOCKED
 *     in the claim order, with their attempt rows inserted by a data-modifying CTE of the same statement;
 *   - complete: one UPDATE of the batch by lease (unnest of ids, leases, results and keys), with the
 *     execution's counter shard (execution_progress, this backend's) moved by a CTE of the same statement.
 * Both are named prepared statements. The open_work triggers the schema puts on subtasks fire as for the server.
 */
import pg from 'pg';
import { PostgresSql } from '../../apps/server/src/db/sql.ts';
import { drain, type Drained, type Held, resultOf } from './drain.ts';
import { OWNER, type QueueState, queueState, seedQueue } from './queue.ts';

const POOL = 10;

/** A timestamp(3) as the server writes them (UTC, no zone). */
export const stamp = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');

export const claimText = (batch: number) => `
  WITH leased AS (
    UPDATE "subtasks" SET "status" = 'leased', "lease_id" = gen_random_uuid()::text,
      "lease_expires_at" = $3::timestamp + make_interval(secs => LEAST("lease_seconds", "max_attempt_seconds")),
      "attempt_deadline_at" = $3::timestamp + make_interval(secs => "max_attempt_seconds"),
      "claim_by" = NULL, "attempts" = "attempts" + 1, "started_at" = COALESCE("started_at", $3::timestamp), "updated_at" = $3::timestamp
    WHERE "id" IN (
      SELECT "id" FROM "subtasks" WHERE "assignee_id" = $1 AND "status" = 'assigned' AND "owner_id" = $2
      ORDER BY "priority_rank", "created_at", "seq", "replica" LIMIT ${batch}
      FOR UPDATE SKIP LOCKED)
    RETURNING "id", "lease_id", "owner_id", "network_id", "execution_id", "swarm_id", "assignee_id", "payload"
  ), opened AS (
    INSERT INTO "subtask_attempts" ("id", "subtask_id", "owner_id", "network_id", "execution_id", "swarm_id", "assignee_id", "outcome", "started_at")
    SELECT "lease_id", "id", "owner_id", "network_id", "execution_id", "swarm_id", "assignee_id", 'open', $3::timestamp FROM leased
  )
  SELECT "id", "lease_id", "execution_id", "payload"::text AS "payload" FROM leased`;

const COMPLETE = `
  WITH done AS (
    UPDATE "subtasks" s SET "status" = 'completed', "result" = d."result"::jsonb, "result_key" = d."result_key",
      "completed_at" = $5::timestamp, "lease_expires_at" = NULL, "error" = NULL, "updated_at" = $5::timestamp
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS d("id", "lease_id", "result", "result_key")
    WHERE s."id" = d."id" AND s."status" = 'leased' AND s."lease_id" = d."lease_id" AND s."lease_expires_at" > $5::timestamp
    RETURNING s."execution_id"
  ), counted AS (
    INSERT INTO "execution_progress" ("execution_id", "shard", "decided")
    SELECT "execution_id", pg_backend_pid() % 1024, count(*) FROM done GROUP BY "execution_id"
    ON CONFLICT ("execution_id", "shard") DO UPDATE SET "decided" = "execution_progress"."decided" + EXCLUDED."decided"
  )
  SELECT count(*)::int AS "completed" FROM done`;

/** The completion of `held` as one named statement (COMPLETE), its results echoing their payloads. */
export function completion(name: string, held: Held[]): pg.QueryConfig {
  const results = held.map(resultOf);
  return {
    name,
    text: COMPLETE,
    values: [
      held.map((h) => h.id),
      held.map((h) => h.leaseId),
      results.map((r) => r.result),
      results.map((r) => r.resultKey),
      stamp(new Date()),
    ],
  };
}

export interface RawLoopRun extends Drained {
  state: QueueState;
}

/**
 * Seeds `subtasks` for `loops` agents on the (migrated) database at `url`, then drains them in `loops` loops;
 * `around` wraps the draining alone (the statement profile).
 */
export async function postgresRawLoop(
  url: string,
  { batch, loops, seconds, subtasks }: { batch: number; loops: number; seconds: number; subtasks: number },
  around: (drain: () => Promise<Drained>) => Promise<Drained> = (run) => run(),
): Promise<RawLoopRun> {
  const pool = new pg.Pool({ connectionString: url, max: POOL, application_name: 'aitbc-bench-raw-loop' });
  // pool.end() resolves before its connections have closed: dropping the scratch database (WITH FORCE) right after
  // may end one still closing, which reports the error on the pool. Nothing is lost by then.
  pool.on('error', () => undefined);
  try {
    const seeding = await pool.connect();
    let queue: Awaited<ReturnType<typeof seedQueue>>;
    try {
      await seeding.query('BEGIN');
      queue = await seedQueue(new PostgresSql(seeding), loops, subtasks);
      await seeding.query('COMMIT');
    } finally {
      seeding.release();
    }
    const claim = { name: `raw_claim_${batch}`, text: claimText(batch) };
    const drained = await around(() =>
      drain(
        loops,
        seconds,
        async (loop) => {
          const { rows } = await pool.query<{ id: string; lease_id: string; execution_id: string; payload: string }>({
            ...claim,
            values: [queue.assignees[loop], OWNER, stamp(new Date())],
          });
          return rows.map((r) => ({ id: r.id, leaseId: r.lease_id, executionId: r.execution_id, payload: r.payload }));
        },
        async (_loop, held: Held[]) => {
          const { rows } = await pool.query<{ completed: number }>(completion('raw_complete', held));
          return rows[0]!.completed;
        },
      ),
    );
    return { ...drained, state: await queueState(new PostgresSql(pool), queue.executionIds) };
  } finally {
    await pool.end();
  }
}

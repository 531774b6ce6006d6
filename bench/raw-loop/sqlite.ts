/**
 * The work path at SQLite's own speed: better-sqlite3 on one connection set up as the server sets up its own
 * (WAL, synchronous = NORMAL, foreign keys, its page cache size, checkpoints in a thread of their own), no
 * HTTP, no ORM, prepared statements. One connection, so one loop. Per iteration two transactions (BEGIN
 * IMMEDIATE, as the server's group commit), each of two statements, SQLite having no data-modifying CTEs:
 *   - claim: one UPDATE … RETURNING of up to `batch` of the agent's assigned subtasks in the claim order (a
 *     literal LIMIT, as the server writes it), then one INSERT of their attempt rows;
 *   - complete: one UPDATE … FROM (VALUES …) of the batch by lease, then the execution's counter row.
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { BACKSTOP_PAGES, startCheckpointer } from '../../apps/server/src/db/checkpointer.ts';
import { SQLITE_PAGE_CACHE_KIB } from '../../apps/server/src/db/client.ts';
import { newUuid, render, SqliteSql, sql } from '../../apps/server/src/db/sql.ts';
import { drain, type Held, resultOf } from './drain.ts';
import type { RawLoopRun } from './postgres.ts';
import { OWNER, queueState, seedQueue } from './queue.ts';

/** The server's own driver (a dependency of apps/server, not of the bench). */
const Database = createRequire(new URL('../../apps/server/package.json', import.meta.url))('better-sqlite3') as typeof BetterSqlite3;

/** A timestamp as the server writes them on SQLite. */
const stamp = (d: Date) => d.toISOString().replace('Z', '+00:00');
const plus = (seconds: string) => `strftime('%Y-%m-%dT%H:%M:%f+00:00', @now, '+' || (${seconds}) || ' seconds')`;

const claimText = (batch: number) => `
  UPDATE "subtasks" SET "status" = 'leased', "lease_id" = ${render(sql`${newUuid}`, 'sqlite').text},
    "lease_expires_at" = ${plus('min("lease_seconds", "max_attempt_seconds")')}, "attempt_deadline_at" = ${plus('"max_attempt_seconds"')},
    "claim_by" = NULL, "attempts" = "attempts" + 1, "started_at" = COALESCE("started_at", @now), "updated_at" = @now
  WHERE "id" IN (
    SELECT "id" FROM "subtasks" WHERE "assignee_id" = @assignee AND "status" = 'assigned' AND "owner_id" = @owner
    ORDER BY "priority_rank", "created_at", "seq", "replica" LIMIT ${batch})
  RETURNING "id", "lease_id", "owner_id", "network_id", "execution_id", "swarm_id", "assignee_id", "payload"`;

const openText = (n: number) => `
  INSERT INTO "subtask_attempts" ("id", "subtask_id", "owner_id", "network_id", "execution_id", "swarm_id", "assignee_id", "outcome", "started_at")
  VALUES ${Array.from({ length: n }, () => "(?, ?, ?, ?, ?, ?, ?, 'open', ?)").join(', ')}`;

const completeText = (n: number) => `
  WITH done("id", "lease_id", "result", "result_key") AS (VALUES ${Array.from({ length: n }, () => '(?, ?, ?, ?)').join(', ')})
  UPDATE "subtasks" SET "status" = 'completed', "result" = done."result", "result_key" = done."result_key",
    "completed_at" = ?, "lease_expires_at" = NULL, "error" = NULL, "updated_at" = ?
  FROM done
  WHERE "subtasks"."id" = done."id" AND "subtasks"."status" = 'leased' AND "subtasks"."lease_id" = done."lease_id" AND "subtasks"."lease_expires_at" > ?
  RETURNING "subtasks"."execution_id"`;

const COUNT = `
  INSERT INTO "execution_progress" ("execution_id", "shard", "decided") VALUES (?, 0, ?)
  ON CONFLICT ("execution_id", "shard") DO UPDATE SET "decided" = "execution_progress"."decided" + excluded."decided"`;

interface ClaimedRow {
  id: string;
  lease_id: string;
  owner_id: string;
  network_id: string;
  execution_id: string;
  swarm_id: string | null;
  assignee_id: string;
  payload: string | number;
}

/** Seeds `subtasks` on the (migrated) SQLite file, then drains them in one loop. */
export async function sqliteRawLoop(
  file: string,
  { batch, seconds, subtasks }: { batch: number; seconds: number; subtasks: number },
): Promise<RawLoopRun> {
  const db = new Database(file, { timeout: 5000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma(`cache_size = -${SQLITE_PAGE_CACHE_KIB}`);
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  const checkpointer = startCheckpointer(file, 250, (message) => console.error(`bench raw loop: ${message}`));
  try {
    const raw = new SqliteSql(db);
    db.exec('BEGIN IMMEDIATE');
    const queue = await seedQueue(raw, 1, subtasks);
    db.exec('COMMIT');
    const assignee = queue.assignees[0]!;
    const claimStatement = db.prepare<[{ now: string; assignee: string; owner: string }], ClaimedRow>(claimText(batch));
    const prepared = new Map<string, BetterSqlite3.Statement>();
    const statement = (text: string) => {
      let s = prepared.get(text);
      if (!s) {
        s = db.prepare(text);
        prepared.set(text, s);
      }
      return s;
    };
    const count = db.prepare(COUNT);
    const claim = db
      .transaction((): Held[] => {
        const now = stamp(new Date());
        const rows = claimStatement.all({ now, assignee, owner: OWNER });
        if (rows.length > 0)
          statement(openText(rows.length)).run(
            rows.flatMap((r) => [r.lease_id, r.id, r.owner_id, r.network_id, r.execution_id, r.swarm_id, r.assignee_id, now]),
          );
        // A JSON column's affinity is NUMERIC on SQLite: a number's JSON comes back a number.
        return rows.map((r) => ({ id: r.id, leaseId: r.lease_id, executionId: r.execution_id, payload: String(r.payload) }));
      })
      .immediate.bind(null);
    const complete = db
      .transaction((held: Held[]): number => {
        const now = stamp(new Date());
        const values = held.flatMap((h) => {
          const { result, resultKey } = resultOf(h);
          return [h.id, h.leaseId, result, resultKey];
        });
        const done = statement(completeText(held.length)).all([...values, now, now, now]) as { execution_id: string }[];
        const byExecution = new Map<string, number>();
        for (const d of done) byExecution.set(d.execution_id, (byExecution.get(d.execution_id) ?? 0) + 1);
        for (const [executionId, n] of byExecution) count.run(executionId, n);
        return done.length;
      })
      .immediate.bind(null);
    const drained = await drain(
      1,
      seconds,
      async () => claim(),
      async (_loop, held) => complete(held),
    );
    return { ...drained, state: await queueState(raw, queue.executionIds) };
  } finally {
    // The checkpoint thread is unref'd (it must not keep a server alive): hold the event loop open while it closes.
    const open = setInterval(() => undefined, 1000);
    await checkpointer.close();
    clearInterval(open);
    db.close();
  }
}

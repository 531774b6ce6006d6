/** New subtasks, assigned, as multi-row INSERTs (Prisma's createMany cost ~300 µs a row here; this, ~80). */
import { json, join, type Query, raw, type Sql, sql } from '../../db/sql.ts';

export interface NewSubtask {
  id: string;
  ownerId: string;
  networkId: string | null;
  executionId: string | null;
  coordinationId: string | null;
  swarmId: string | null;
  seq: number;
  replica: number;
  payload: unknown;
  requires: string[] | null;
  priorityRank: number;
  assigneeId: string;
  claimBy: Date;
  maxAttempts: number;
  leaseSeconds: number;
  /** The longest one attempt may run. */
  maxAttemptSeconds: number;
  /** Its place in the queue (a replica added later keeps its subtask's). */
  createdAt: Date;
}

const COLUMNS = raw(
  '"id", "owner_id", "network_id", "execution_id", "coordination_id", "swarm_id", "seq", "replica", "payload", "requires", "priority_rank", ' +
    '"status", "assignee_id", "assigned_at", "claim_by", "max_attempts", "lease_seconds", "max_attempt_seconds", "created_at", "updated_at"',
);
/** Rows per statement on SQLite, which takes at most 32,766 parameters. */
const CHUNK = 500;

/** The INSERT statements for `rows`, one per CHUNK rows (SQLite's; the bench's raw loop uses them on both). */
export function subtaskInserts(rows: NewSubtask[], now: Date): Query[] {
  const statements: Query[] = [];
  for (let i = 0; i < rows.length; i += CHUNK) {
    const values = rows
      .slice(i, i + CHUNK)
      .map(
        (r) =>
          sql`(${r.id}, ${r.ownerId}, ${r.networkId}, ${r.executionId}, ${r.coordinationId}, ${r.swarmId}, ${r.seq}, ${r.replica}, ${json(r.payload)}, ${r.requires === null ? null : json(r.requires)}, ${r.priorityRank}, 'assigned', ${r.assigneeId}, ${now}, ${r.claimBy}, ${r.maxAttempts}, ${r.leaseSeconds}, ${r.maxAttemptSeconds}, ${r.createdAt}, ${now})`,
      );
    statements.push(sql`INSERT INTO "subtasks" (${COLUMNS}) VALUES ${join(values)}`);
  }
  return statements;
}

/**
 * PostgreSQL: every row in one statement, whatever their number: the rows travel as one JSON parameter, read by
 * json_to_recordset (graphile-worker's add_jobs takes its batch the same way). One statement is atomic on its own, so
 * an execution's rows need no transaction around them (networks/submit.ts), and a large one is parsed once, not as
 * chunks of thousands of parameters. Payloads travel as JSON text (`::jsonb` after): a payload that is JSON null stays
 * JSON null, not SQL NULL.
 */
/** A timestamp as the timestamp(3) columns hold it: UTC, no zone (db/sql.ts). */
const stamp = (at: Date) => at.toISOString().replace('T', ' ').replace('Z', '');

function subtaskRecordset(rows: NewSubtask[], now: Date): Query {
  const records = rows.map((r) => ({
    id: r.id,
    owner_id: r.ownerId,
    network_id: r.networkId,
    execution_id: r.executionId,
    coordination_id: r.coordinationId,
    swarm_id: r.swarmId,
    seq: r.seq,
    replica: r.replica,
    payload: JSON.stringify(r.payload === undefined ? null : r.payload),
    requires: r.requires === null ? null : JSON.stringify(r.requires),
    priority_rank: r.priorityRank,
    assignee_id: r.assigneeId,
    claim_by: stamp(r.claimBy),
    max_attempts: r.maxAttempts,
    lease_seconds: r.leaseSeconds,
    max_attempt_seconds: r.maxAttemptSeconds,
    created_at: stamp(r.createdAt),
  }));
  return sql`
    INSERT INTO "subtasks" (${COLUMNS})
    SELECT r."id", r."owner_id", r."network_id", r."execution_id", r."coordination_id", r."swarm_id", r."seq", r."replica",
      r."payload"::jsonb, r."requires"::jsonb, r."priority_rank", 'assigned', r."assignee_id", ${now}, r."claim_by",
      r."max_attempts", r."lease_seconds", r."max_attempt_seconds", r."created_at", ${now}
    FROM json_to_recordset(${JSON.stringify(records)}::json) AS r("id" text, "owner_id" text, "network_id" text, "execution_id" text,
      "coordination_id" text, "swarm_id" text, "seq" int, "replica" int, "payload" text, "requires" text, "priority_rank" int,
      "assignee_id" text, "claim_by" timestamp, "max_attempts" int, "lease_seconds" int, "max_attempt_seconds" int,
      "created_at" timestamp)`;
}

/**
 * Inserts `rows`: on PostgreSQL in one statement (subtaskRecordset), on SQLite one per CHUNK rows. `leading`
 * (PostgreSQL: `WITH … AS (…)` data-modifying CTEs) opens the statement, so the writes it carries (a parent's own
 * row, its network's counters) commit with the rows, in that one statement; with no rows, on its own.
 */
export async function insertSubtasks(db: Sql, rows: NewSubtask[], now: Date, leading?: Query): Promise<void> {
  if (rows.length === 0) {
    if (leading) await db.run(sql`${leading} SELECT 1`);
  } else if (db.dialect === 'postgresql') {
    await db.run(leading ? sql`${leading} ${subtaskRecordset(rows, now)}` : subtaskRecordset(rows, now));
  } else {
    for (const statement of subtaskInserts(rows, now)) await db.run(statement);
  }
}

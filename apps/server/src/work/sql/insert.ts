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
/** Rows per statement: SQLite takes at most 32,766 parameters, PostgreSQL 65,535. */
const CHUNK = 500;

/** The INSERT statements for `rows`, one per CHUNK rows. */
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
 * Inserts `rows`. `leading` (PostgreSQL: `WITH … AS (…)` data-modifying CTEs) opens the first statement, so the
 * writes it carries (a parent's own row) commit in the same statement as the first rows; with no rows, on its own.
 */
export async function insertSubtasks(db: Sql, rows: NewSubtask[], now: Date, leading?: Query): Promise<void> {
  const statements = subtaskInserts(rows, now);
  if (leading && statements.length === 0) await db.run(sql`${leading} SELECT 1`);
  for (const [i, statement] of statements.entries()) await db.run(i === 0 && leading ? sql`${leading} ${statement}` : statement);
}

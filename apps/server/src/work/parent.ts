import type { Database, Tx } from '../db/database.ts';
import { inList, raw, type Sql, sql } from '../db/sql.ts';
import type { StragglerRule } from '@aitbc/core';
import type { SubtaskRow } from './subtasks.ts';
import type { DecidingAlone } from './sql/decide.ts';

/** The two kinds of work a subtask can belong to. */
export type ParentKind = 'execution' | 'coordination';

/** What a subtask row says of its parent. */
export type SubtaskRef = Pick<SubtaskRow, 'executionId' | 'coordinationId'> & Partial<Pick<SubtaskRow, 'networkId'>>;

/** A subtask's parent: an agent network's execution, or a swarm's coordination task. */
export function parentOf(s: SubtaskRef): { kind: ParentKind; id: string } | null {
  if (s.executionId) return { kind: 'execution', id: s.executionId };
  if (s.coordinationId) return { kind: 'coordination', id: s.coordinationId };
  return null;
}

/** What a claim or a lease view reports about a parent. */
export interface ParentDescription {
  execution_id: string | null;
  network_id: string | null;
  task_id: string | null;
  swarm_id: string | null;
  status: string;
}

/** A claim attempt that ended, as a parent counts it. */
export interface EndedAttempt {
  assigneeId: string;
  outcome: 'completed' | 'failed' | 'expired';
  /** Claim to end. */
  seconds: number;
}

/** Who takes a replica next (null: nobody can now), and by when it must be claimed (or looked at again). */
export interface Assignment {
  assigneeId: string | null;
  claimBy: Date;
  /** The parent's retry backoff (after a failed attempt): base × 2^(n−1) seconds, at most max, jittered. */
  retry?: { baseSeconds: number; maxSeconds: number };
}

/**
 * What the work engine (work/engine.ts) needs from a kind of parent. The
 * lease mechanics (claim, lease extension, result, failure, expiry, the
 * sweep) are the engine's and the same for both kinds; what the work means,
 * who takes it next and when the whole is done are the parent's.
 *
 * Lock order, on every path that settles or moves work: the parent's own
 * locks (`lock`), then the subtasks, then the counters. Claims lock only
 * subtasks, and mark their parents started after they commit.
 */
export interface WorkParent {
  /**
   * Takes the parent's row locks before any of these parents' subtasks
   * changes. `moving`: work is being released or failed (not only results
   * recorded), which always needs them; results alone need them only where
   * replicas are decided against each other.
   */
  lock(tx: Tx, ids: string[], moving: boolean, now: Date): Promise<void>;
  /** The trace each of these parents' spans continue (tracing on only): the traceparent stored when it was created. */
  traceParents(sql: Sql, ids: string[]): Promise<Map<string, string | null>>;
  /**
   * For claims, lease views and live views; `status` is read only when asked for (else ''). `subtasks`, when given,
   * are subtasks of these parents: what they say of their parent (an execution's network) needs no read.
   */
  describe(sql: Sql, ids: string[], withStatus: boolean, subtasks?: readonly SubtaskRef[]): Promise<Map<string, ParentDescription>>;
  /** The next assignee for a replica taken from `avoid` (who is preferred not to get it back, but may). */
  reassign(tx: Tx, s: SubtaskRow, avoid: string[], now: Date): Promise<Assignment>;
  /** Replicas that completed, or failed for good: decide what follows (accept, vote, next stage, fail the parent). */
  settle(tx: Tx, id: string, replicas: SubtaskRow[], now: Date): Promise<void>;
  /** Claim attempts of their subtasks ended, by parent id (in id order): move the parents' counters. */
  attemptsEnded(tx: Tx, ended: ReadonlyMap<string, EndedAttempt[]>, now: Date): Promise<void>;
  /**
   * After the transaction that settled some of its work committed: finish
   * the parent if everything is decided. Done after commit because, on
   * PostgreSQL, two transactions settling the last two subtasks at once
   * each see the other's as still open; the later commit sees both.
   * Many at once (one read, one transaction): the parent's status as the check left it, by id (absent: not known).
   */
  finishIfDone(db: Database, ids: string[], now: Date): Promise<Map<string, string>>;
  /** The live parents whose work `who` (an agent or a member) may take from other assignees (`only`: of these). */
  openTo(db: Sql, ownerId: string, who: string, now: Date, only?: string[]): Promise<OpenParent[]>;
  /** Of these subtasks of `open` parents, those `who` may take: capabilities, and (centralized) whether it would finish sooner. */
  mayTake(db: Sql, who: string, candidates: Takeable[], open: OpenParent[], now: Date): Promise<Takeable[]>;
  /** Backup copies started or decided (see countBackups). */
  backups(tx: Tx, id: string, by: BackupCounts): Promise<void>;
  /** Which of its subtasks a result decides alone, and the counters that then move (PostgreSQL: sql/decide.ts). */
  decidingAlone?(now: Date): DecidingAlone;
}

export type WorkParents = Record<ParentKind, WorkParent>;

/** An unclaimed subtask another assignee holds, as a thief sees it. */
export interface Takeable {
  id: string;
  parentId: string;
  seq: number;
  assigneeId: string;
  requires: string[];
}

/** A live parent whose work an assignee may take from other assignees, and its rules (README "Stragglers"). */
export interface OpenParent {
  id: string;
  /** Its unclaimed subtasks may be stolen. */
  stealing: boolean;
  /** Its running subtasks may get backup copies (null: off, or a voting task). */
  speculation: StragglerRule | null;
  /** The parent's own rule for `mayTake` (the network's strategy). */
  strategy: string;
  /** Share of its subtasks decided, from its counters: below the quantile, no subtask of it is read for speculation. */
  decidedShare: number;
  /** Who its work is assigned among (the network's agents, the task's members): whom a thief reads the queues of. */
  assignees: string[];
}

/** Each kind of parent's table, and the subtasks' column that names a parent of that kind. */
export const PARENT_TABLES = {
  execution: { table: 'agent_network_executions', column: 'execution_id' },
  coordination: { table: 'swarm_coordination', column: 'coordination_id' },
} as const satisfies Record<ParentKind, { table: string; column: string }>;

/**
 * A claim started work on these parents: queued becomes running, running stays (only a live parent has assigned
 * work to claim). On PostgreSQL the claim's own statement does it (sql/claim.ts); this is for the rest.
 */
export async function markStarted(db: Sql, kind: ParentKind, ids: string[], now: Date): Promise<void> {
  await db.run(sql`
    UPDATE ${raw(`"${PARENT_TABLES[kind].table}"`)} SET "status" = 'running', "started_at" = ${now}, "updated_at" = ${now}
    WHERE "id" ${inList(ids)} AND "status" = 'queued'`);
}

/** Backup copies of a parent's subtasks started, and won (with the time they saved). */
export interface BackupCounts {
  launched: number;
  won: number;
  secondsSaved: number;
}

/** Move a parent's backup counters (in the transaction that started or decided the copies, with the parent locked). */
export async function countBackups(
  db: Sql,
  table: 'agent_network_executions' | 'swarm_coordination',
  id: string,
  by: BackupCounts,
): Promise<void> {
  await db.run(sql`
    UPDATE ${raw(`"${table}"`)} SET "backups_launched" = "backups_launched" + ${by.launched}, "backups_won" = "backups_won" + ${by.won},
      "backup_seconds_saved" = "backup_seconds_saved" + ${by.secondsSaved}
    WHERE "id" = ${id}`);
}

/**
 * Take a live parent's row lock (an execution or a swarm task, queued or
 * running) before settling or moving any of its subtasks: the lock order is
 * the parent, then its subtasks. Returns the row as it is now, or null when
 * the parent has ended and takes no more results.
 */
export async function lockLiveParent(
  db: Sql,
  table: 'agent_network_executions' | 'swarm_coordination',
  id: string,
  now: Date,
): Promise<Record<string, unknown> | null> {
  const row = await db.one(sql`
    UPDATE ${raw(`"${table}"`)} SET "updated_at" = ${now} WHERE "id" = ${id} AND "status" IN ('queued', 'running') RETURNING *`);
  return row ?? null;
}

/** The traceparent stored on each of these parents' rows (WorkParent.traceParents), by id. */
export async function readTraceParents(
  db: Sql,
  table: 'agent_network_executions' | 'swarm_coordination',
  ids: string[],
): Promise<Map<string, string | null>> {
  const rows = await db.all<{ id: string; trace_parent: string | null }>(
    sql`SELECT "id", "trace_parent" FROM ${raw(`"${table}"`)} WHERE "id" ${inList(ids)}`,
  );
  return new Map(rows.map((r) => [r.id, r.trace_parent]));
}

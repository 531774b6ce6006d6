// What the database holds, read straight from its tables: a snapshot to
// compare (did a request change anything?) and the invariants that must hold
// whatever requests came before (counters equal a recount, no orphaned
// leases, no duplicate ids). Tables are listed from the database itself, so
// a table added later is covered without touching this file.
import { createHash } from 'node:crypto';
import type { Database } from '../../src/db/database.ts';
import type { PrismaTx } from '../../src/db/client.ts';

/** Every application table (not migrations' bookkeeping). */
export async function tableNames(db: Database): Promise<string[]> {
  const sql =
    db.provider === 'sqlite'
      ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_%' ESCAPE '\\'"
      : "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE '\\_%'";
  const rows = await db.run((tx) => tx.$queryRawUnsafe<{ name: string }[]>(sql));
  return rows.map((r) => r.name).sort();
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (typeof v === 'bigint') return v.toString();
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date))
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, v[k]]),
      );
    return v;
  });
}

export interface TableState {
  count: number;
  hash: string;
  /** Each row as canonical JSON, sorted. */
  rows: string[];
}

export type Snapshot = Map<string, TableState>;

/**
 * Every row of every table. With `exceptOwner`, rows whose owner_id is that
 * owner are left out (what that owner may legitimately change).
 */
export async function snapshot(db: Database, options: { exceptOwner?: string } = {}): Promise<Snapshot> {
  const tables = await tableNames(db);
  const out: Snapshot = new Map();
  for (const table of tables) {
    const rows = await db.run((tx) => tx.$queryRawUnsafe<Record<string, unknown>[]>(`SELECT * FROM "${table}"`));
    const kept = (options.exceptOwner === undefined ? rows : rows.filter((r) => r['owner_id'] !== options.exceptOwner)).map(
      // A key's last use is bookkeeping the server writes on its own clock, not a change anyone asked for.
      ({ last_used_at: _, ...r }) => r,
    );
    const texts = kept.map(canonical).sort();
    out.set(table, { count: texts.length, hash: createHash('sha256').update(texts.join('\n')).digest('hex'), rows: texts });
  }
  return out;
}

/** What differs between two snapshots, table by table (empty: identical). */
export function diffSnapshots(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const table of new Set([...before.keys(), ...after.keys()])) {
    const b = before.get(table);
    const a = after.get(table);
    if (b?.hash === a?.hash) continue;
    const was = new Set(b?.rows ?? []);
    const now = new Set(a?.rows ?? []);
    const removed = [...was].filter((r) => !now.has(r));
    const added = [...now].filter((r) => !was.has(r));
    out.push(
      `${table}: ${b?.count ?? 0} → ${a?.count ?? 0} rows; removed ${removed.slice(0, 2).join(' | ')}; added ${added.slice(0, 2).join(' | ')}`,
    );
  }
  return out;
}

/** Rows per table. */
export function counts(s: Snapshot): Record<string, number> {
  return Object.fromEntries([...s].map(([t, v]) => [t, v.count]));
}

const OPEN = ['pending', 'assigned', 'leased'];
const FINISHED = ['completed', 'failed', 'cancelled', 'timed_out'];

/**
 * The invariants of the work tables. Returns every violation found (empty:
 * all hold). Read in one transaction, so the picture is consistent.
 */
export async function checkInvariants(db: Database): Promise<string[]> {
  return db.transaction((tx) => invariants(tx));
}

async function invariants(tx: PrismaTx): Promise<string[]> {
  const problems: string[] = [];
  const [subtasks, attempts, executions, coordinations, members, votes] = await Promise.all([
    tx.subtask.findMany(),
    tx.subtaskAttempt.findMany(),
    tx.agentNetworkExecution.findMany(),
    tx.swarmCoordination.findMany(),
    tx.swarmMember.findMany(),
    tx.swarmVote.findMany(),
  ]);
  const attemptsOf = new Map<string, typeof attempts>();
  for (const a of attempts) attemptsOf.set(a.subtaskId, [...(attemptsOf.get(a.subtaskId) ?? []), a]);
  const attemptById = new Map(attempts.map((a) => [a.id, a]));
  const memberById = new Map(members.map((m) => [m.memberId, m]));
  const subtaskById = new Map(subtasks.map((s) => [s.id, s]));

  // Subtasks and their leases.
  for (const s of subtasks) {
    const mine = attemptsOf.get(s.id) ?? [];
    // `attempts` counts claims; a backup copy (speculation) has an attempt row of its own, not counted there.
    const claims = mine.filter((a) => !a.backup);
    if (claims.length !== s.attempts) problems.push(`subtask ${s.id}: attempts ${s.attempts} but ${claims.length} claim attempt rows`);
    if (s.status === 'leased' && s.backupLeaseExpiresAt) {
      const backup = attemptById.get(s.backupLeaseId ?? '');
      if (!backup?.backup || backup.outcome !== 'open' || backup.assigneeId !== s.backupAssigneeId)
        problems.push(`subtask ${s.id}: its backup lease ${s.backupLeaseId} has no open backup attempt of ${s.backupAssigneeId}`);
    }
    // Claims handed back (cancelled: their member left, their host was quarantined) do not use up attempts.
    const used = s.attempts - claims.filter((a) => a.outcome === 'cancelled').length;
    if (used > s.maxAttempts) problems.push(`subtask ${s.id}: ${used} attempts used of at most ${s.maxAttempts}`);
    if (s.status === 'leased') {
      if (!s.leaseId || !s.leaseExpiresAt || !s.assigneeId) problems.push(`subtask ${s.id}: leased without lease id, expiry or assignee`);
      else if (attemptById.get(s.leaseId)?.outcome !== 'open') problems.push(`subtask ${s.id}: its lease ${s.leaseId} has no open attempt`);
    } else if (s.status === 'assigned') {
      if (!s.assigneeId || s.leaseId) problems.push(`subtask ${s.id}: assigned but assignee ${s.assigneeId}, lease ${s.leaseId}`);
    }
    if (s.status === 'completed') {
      const done = mine.filter((a) => a.outcome === 'completed');
      if (done.length !== 1 || done[0]!.id !== s.leaseId)
        problems.push(`subtask ${s.id}: completed with ${done.length} completed attempts (lease ${s.leaseId})`);
    }
    if (s.accepted && s.status !== 'completed') problems.push(`subtask ${s.id}: accepted but ${s.status}`);
    // A member that left holds no work (leave-while-claiming).
    if (OPEN.includes(s.status) && s.coordinationId && s.assigneeId && memberById.get(s.assigneeId)?.status === 'left') {
      problems.push(`subtask ${s.id}: ${s.status} for member ${s.assigneeId}, which left`);
    }
  }
  for (const a of attempts) {
    if (a.outcome !== 'open') continue;
    const s = subtaskById.get(a.subtaskId);
    const runningBackup = s?.status === 'leased' && s.backupLeaseExpiresAt !== null && s.backupLeaseId === a.id;
    if ((s?.status !== 'leased' || s.leaseId !== a.id) && !runningBackup)
      problems.push(
        `attempt ${a.id}: open, but its subtask is ${s?.status ?? 'missing'} under lease ${s?.leaseId ?? '-'} (orphaned lease)`,
      );
  }

  // Executions: counters equal the recount.
  const byExecution = new Map<string, typeof subtasks>();
  for (const s of subtasks) if (s.executionId) byExecution.set(s.executionId, [...(byExecution.get(s.executionId) ?? []), s]);
  const progress = await tx.executionProgress.groupBy({ by: ['executionId'], _sum: { decided: true } });
  const decidedCount = new Map(progress.map((p) => [p.executionId, p._sum.decided ?? 0]));
  for (const e of executions) {
    const rows = byExecution.get(e.id) ?? [];
    const stored = decidedCount.get(e.id) ?? 0;
    const seqs = new Set(rows.map((s) => s.seq));
    // A subtask is decided by an accepted copy, or (under a verification policy) as inconclusive.
    const decided = new Set(rows.filter((s) => s.accepted || s.validation === 'inconclusive').map((s) => s.seq));
    const acceptedRows = rows.filter((s) => s.accepted).length;
    const inconclusive = new Set(rows.filter((s) => s.validation === 'inconclusive').map((s) => s.seq)).size;
    if (seqs.size !== e.subtaskCount) problems.push(`execution ${e.id}: subtask_count ${e.subtaskCount}, ${seqs.size} subtasks`);
    if (decided.size !== stored) problems.push(`execution ${e.id}: execution_progress says ${stored} decided, ${decided.size} are`);
    if (acceptedRows + inconclusive !== decided.size)
      problems.push(`execution ${e.id}: ${acceptedRows} accepted replicas for ${decided.size - inconclusive} subtasks`);
    if (e.status === 'completed') {
      if (stored !== e.subtaskCount) problems.push(`execution ${e.id}: completed with ${stored}/${e.subtaskCount} decided`);
      const results = (e.results as { subtask_results?: unknown[] } | null)?.subtask_results;
      if (results?.length !== e.subtaskCount)
        problems.push(`execution ${e.id}: completed with ${results?.length} results for ${e.subtaskCount} subtasks`);
    }
    if (FINISHED.includes(e.status) && rows.some((s) => OPEN.includes(s.status)))
      problems.push(`execution ${e.id}: ${e.status} with open subtasks`);
  }

  // Coordinations: counters, votes, and decided consensus.
  const votesOf = new Map<string, typeof votes>();
  for (const v of votes) votesOf.set(v.coordinationId, [...(votesOf.get(v.coordinationId) ?? []), v]);
  for (const c of coordinations) {
    const rows = subtasks.filter((s) => s.coordinationId === c.id);
    const voting = c.consensusAlgorithm !== null;
    const cast = votesOf.get(c.id) ?? [];
    if (new Set(cast.map((v) => v.memberId)).size !== cast.length) problems.push(`task ${c.taskId}: a member voted twice`);
    if (voting) {
      if (cast.length > rows.filter((s) => s.status === 'completed').length)
        problems.push(`task ${c.taskId}: ${cast.length} votes for fewer completed subtasks`);
      if (c.consensusReachedAt && c.decidedCount !== 1)
        problems.push(`task ${c.taskId}: consensus reached but decided_count ${c.decidedCount}`);
    } else {
      const accepted = new Set(rows.filter((s) => s.accepted || s.validation === 'inconclusive').map((s) => s.seq)).size;
      if (accepted !== c.decidedCount) problems.push(`task ${c.taskId}: decided_count ${c.decidedCount}, ${accepted} accepted`);
      if (c.status === 'completed' && c.decidedCount !== c.subtaskCount)
        problems.push(`task ${c.taskId}: completed with ${c.decidedCount}/${c.subtaskCount}`);
    }
    if (FINISHED.includes(c.status) && rows.some((s) => OPEN.includes(s.status)))
      problems.push(`task ${c.taskId}: ${c.status} with open subtasks`);
  }

  // Members: one row per public id.
  if (memberById.size !== members.length) problems.push(`swarm members: ${members.length} rows, ${memberById.size} distinct member ids`);
  return problems;
}

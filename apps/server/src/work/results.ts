/**
 * Results and failures: recorded in one transaction, each item answered on
 * its own; what a backup copy's race decided; and, once committed, the
 * parents whose work moved.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, type Refusal, type ReportedOutcome, resultProblem } from '@aitbc/core';
import type { Tx } from '../db/database.ts';
import { attemptsEnded, dropBackup } from './attempts.ts';
import { decideGrouped } from './deciding.ts';
import { finishIfDone } from './finishing.ts';
import { type Known, type Refused, refusals, sawAssignees } from './leases.ts';
import type { BackupCounts, ParentKind } from './parent.ts';
import { parentOf } from './parent.ts';
import { release } from './release.ts';
import { traceWork } from './spans.ts';
import type { EndedAttemptRow } from './sql/attempts.ts';
import type { Completion } from './sql/complete.ts';
import { backupRunning, type EngineState, seconds } from './state.ts';
import type { SubtaskRow } from './subtasks.ts';
import { changed, idsByKind } from './views.ts';

export interface OutcomeState {
  subtask_id: string;
  lease_id: string;
  status: 'recorded' | 'already_recorded' | 'refused';
  refusal: Refusal | null;
  message: string | null;
}

/** The key replicas and repeated posts are compared by: equal results have equal keys. */
export function resultKey(result: unknown): string {
  return createHash('sha256').update(canonicalJson(result)).digest('hex');
}

/** Why each item (by index) is refused before anything is read: a result that breaks a limit. */
function problems(items: ReportedOutcome[]): Map<number, string> {
  const invalid = new Map<number, string>();
  items.forEach((item, i) => {
    const problem = 'result' in item ? resultProblem(item.result) : null;
    if (problem) invalid.set(i, `Invalid input: result: ${problem}`);
  });
  return invalid;
}

/**
 * Results and failures, in one transaction, each answered on its own:
 * recorded, already recorded (the same result posted again under the same
 * lease), or refused with the reason. One bad item never refuses the others.
 * Results that decide their subtask alone are recorded first (decideAlone:
 * on PostgreSQL in one statement); the transaction takes the rest.
 */
export async function record(w: EngineState, ownerId: string, items: ReportedOutcome[], known?: Known): Promise<OutcomeState[]> {
  const now = w.deps.clock.now();
  const decided = await decideAlone(w, ownerId, items, now, known);
  const rest = items.filter((_, i) => !decided.has(i));
  const answers = rest.length ? await w.deps.db.transaction((tx) => recordIn(w, tx, ownerId, rest, problems(rest), now, known)) : [];
  let next = 0;
  return items.map((item, i) =>
    decided.has(i)
      ? { subtask_id: item.subtask_id, lease_id: item.lease_id, status: 'recorded', refusal: null, message: null }
      : answers[next++]!,
  );
}

/**
 * The results that decide their subtask alone (sql/decide.ts: a single-replica execution without a verification
 * policy, no backup copy running), recorded with nothing read first, then followed up as a transaction's results
 * are: on PostgreSQL in one statement, grouped across requests (deciding.ts); on SQLite in one transaction of the
 * subtasks' update, the attempts' end and the counters (its gate groups transactions across requests). The indexes
 * of the items it recorded (their rows, as they are now, into `known`); the others are left as they were.
 */
async function decideAlone(w: EngineState, ownerId: string, items: ReportedOutcome[], now: Date, known?: Known): Promise<Set<number>> {
  // Only where the parent says which results decide alone (sql/decide.ts builds its part per statement).
  if (!w.parent('execution').decidingAlone) return new Set();
  const invalid = problems(items);
  // The first result of each subtask, as the transaction takes them: a second is answered there.
  const first = new Map<string, { index: number; completion: Completion }>();
  items.forEach((item, index) => {
    if (!('result' in item) || invalid.has(index) || first.has(item.subtask_id)) return;
    const completion = { subtaskId: item.subtask_id, leaseId: item.lease_id, result: item.result, resultKey: resultKey(item.result) };
    first.set(item.subtask_id, { index, completion });
  });
  if (first.size === 0) return new Set();
  const completions = [...first.values()].map((f) => f.completion);
  const rows =
    w.deps.db.provider === 'postgresql'
      ? // Grouped with other requests' results of this owner (group commit: deciding.ts).
        await decideGrouped(w, ownerId, completions)
      : await w.deps.db.transaction((tx) => decideIn(w, tx, ownerId, completions, now));
  if (rows.length > 0) await outcomesCommitted(w, ownerId, rows, [], now, known);
  for (const s of rows) known?.rows.set(s.id, s);
  return new Set(rows.map((s) => first.get(s.id)!.index));
}

/** SQLite's decide-alone: the subtasks' update, then their attempts' end and every counter, in one transaction. */
async function decideIn(w: EngineState, tx: Tx, ownerId: string, completions: Completion[], now: Date): Promise<SubtaskRow[]> {
  const parent = w.parent('execution').decidingAlone!(now);
  const rows = await w.deps.sql.decideSubtasks(tx.sql, ownerId, completions, now, parent);
  if (rows.length === 0) return rows;
  const ended = await w.deps.sql.endAttempts(
    tx.sql,
    rows.map((s) => s.leaseId!),
    'completed',
    now,
  );
  await attemptsEnded(w, tx, rows, ended, 'completed', now);
  await parent.decided(tx, rows);
  return rows;
}

async function recordIn(
  w: EngineState,
  tx: Tx,
  ownerId: string,
  items: ReportedOutcome[],
  invalid: Map<number, string>,
  now: Date,
  known?: Known,
): Promise<OutcomeState[]> {
  const { sql } = w.deps;
  const valid = items.filter((_, i) => !invalid.has(i));
  const rows = await sql.readSubtasks(tx.sql, ownerId, [...new Set(valid.map((item) => item.subtask_id))]);
  const failures = valid.filter((item): item is Extract<ReportedOutcome, { error: string }> => 'error' in item);
  // Lock order: the parents' locks before any of their subtasks changes (a backup copy decided moves its parent's counters).
  const backedUp = rows.some((s) => backupRunning(s, now));
  for (const [kind, ids] of idsByKind(rows)) await w.parent(kind).lock(tx, ids, failures.length > 0 || backedUp, now);

  const keyed = valid.flatMap((item) => ('result' in item ? [{ item, key: resultKey(item.result) }] : []));
  // A subtask listed twice is recorded once; the second is answered as already recorded or refused.
  const firstOf = new Map<string, (typeof keyed)[number]>();
  for (const k of keyed) if (!firstOf.has(k.item.subtask_id)) firstOf.set(k.item.subtask_id, k);
  const completed = await sql.completeSubtasks(
    tx.sql,
    ownerId,
    [...firstOf.values()].map(({ item, key }) => ({
      subtaskId: item.subtask_id,
      leaseId: item.lease_id,
      result: item.result,
      resultKey: key,
    })),
    now,
  );
  const recorded = new Set(completed.map((s) => `${s.id}\n${s.leaseId}`));
  const failed = new Map<string, SubtaskRow>();
  const failedLeases = new Set<string>();
  for (const item of failures) {
    const s = rows.find((r) => r.id === item.subtask_id);
    if (s?.status !== 'leased' || failed.has(s.id)) continue;
    const released =
      s.leaseId === item.lease_id && s.leaseExpiresAt! > now
        ? await release(w, tx, s, { status: 'leased', leaseId: item.lease_id }, item.error, 'failed', now, item.retryable !== false)
        : s.backupLeaseId === item.lease_id && backupRunning(s, now)
          ? await dropBackup(w, tx, s, item.error, 'failed', now)
          : false;
    if (released) {
      failed.set(s.id, s);
      failedLeases.add(`${s.id}\n${item.lease_id}`);
    }
  }
  const ended = await sql.endAttempts(
    tx.sql,
    completed.map((s) => s.leaseId!),
    'completed',
    now,
  );
  await attemptsEnded(w, tx, completed, ended, 'completed', now);
  await backupsDecided(w, tx, completed, ended, now);
  for (const [kind, ids] of idsByKind(completed)) {
    for (const id of ids)
      await w.parent(kind).settle(
        tx,
        id,
        completed.filter((s) => parentOf(s)!.id === id),
        now,
      );
  }
  tx.afterCommit(() => outcomesCommitted(w, ownerId, completed, [...failed.values()], now, known));

  // Everything else: answered from what the rows say now.
  const done = new Set([...recorded, ...failedLeases]);
  const rest = valid.filter((item) => !done.has(`${item.subtask_id}\n${item.lease_id}`));
  const why = rest.length ? await refusals(w, tx.sql, ownerId, rest, now) : new Map<string, Refused>();
  const after = new Map(
    (
      await sql.readSubtasks(
        tx.sql,
        ownerId,
        rest.map((item) => item.subtask_id),
      )
    ).map((s) => [s.id, s]),
  );
  const answered = new Set<string>();
  return items.map((item, i): OutcomeState => {
    const ref = { subtask_id: item.subtask_id, lease_id: item.lease_id };
    const problem = invalid.get(i);
    if (problem) return { ...ref, status: 'refused', refusal: 'INVALID', message: problem };
    const at = `${item.subtask_id}\n${item.lease_id}`;
    if (done.has(at) && !answered.has(at)) {
      answered.add(at);
      return { ...ref, status: 'recorded', refusal: null, message: null };
    }
    const s = after.get(item.subtask_id) ?? completed.find((c) => c.id === item.subtask_id);
    if ('result' in item && s?.status === 'completed' && s.leaseId === item.lease_id) {
      return s.resultKey === resultKey(item.result)
        ? { ...ref, status: 'already_recorded', refusal: null, message: null }
        : {
            ...ref,
            status: 'refused',
            refusal: 'CONFLICT',
            message: `Subtask ${item.subtask_id} already has a different result under lease ${item.lease_id}`,
          };
    }
    const refused = why.get(at) ?? {
      refusal: 'LEASE_LOST' as const,
      message: `Lease ${item.lease_id} on subtask ${item.subtask_id} is no longer held`,
    };
    return { ...ref, status: 'refused', ...refused };
  });
}

/**
 * Subtasks a backup copy ran for were decided: the copy that lost has its
 * attempt cancelled (its late result and heartbeats are refused), and a
 * backup that won moves its parent's counters, with the time it saved: the
 * copy it beat had run t without finishing, so it would have needed at
 * least about t more (the estimate the README gives).
 */
async function backupsDecided(w: EngineState, tx: Tx, completed: SubtaskRow[], ended: EndedAttemptRow[], now: Date): Promise<void> {
  const raced = completed.filter((s) => s.backupLeaseId);
  if (raced.length === 0) return;
  const lost = await w.deps.sql.endAttempts(
    tx.sql,
    raced.map((s) => s.backupLeaseId!),
    'cancelled',
    now,
    'another copy of the subtask finished first',
  );
  const wonBy = new Set(ended.filter((a) => a.backup).map((a) => a.subtaskId));
  const byParent = new Map<string, { kind: ParentKind; counts: BackupCounts }>();
  for (const a of lost) {
    const s = raced.find((r) => r.id === a.subtaskId)!;
    const { kind, id } = parentOf(s)!;
    const entry = byParent.get(id) ?? { kind, counts: { launched: 0, won: 0, secondsSaved: 0 } };
    byParent.set(id, entry);
    if (wonBy.has(s.id)) {
      entry.counts.won++;
      entry.counts.secondsSaved += seconds(a.startedAt, now);
    }
  }
  for (const [id, { kind, counts }] of byParent) if (counts.won > 0) await w.parent(kind).backups(tx, id, counts);
  const won = [...byParent.values()].reduce((n, e) => n + e.counts.won, 0);
  const saved = [...byParent.values()].reduce((n, e) => n + e.counts.secondsSaved, 0);
  tx.afterCommit(() => {
    w.outcomes.backups.won += won;
    w.outcomes.backups.secondsSaved += saved;
  });
}

/**
 * Once outcomes committed: traced, parents whose work moved may be done (one check at a time per parent:
 * finishing.ts), live views refresh, and their workers were seen.
 */
async function outcomesCommitted(
  w: EngineState,
  ownerId: string,
  completed: SubtaskRow[],
  failed: SubtaskRow[],
  now: Date,
  known?: Known,
): Promise<void> {
  traceWork(w, 'result', completed, now);
  traceWork(w, 'failure', failed, now);
  const rows = [...completed, ...failed];
  const touched = new Map<string, { kind: ParentKind; row: SubtaskRow }>();
  for (const s of rows) {
    const of = parentOf(s);
    if (of) touched.set(of.id, { kind: of.kind, row: s });
  }
  if (touched.size > 0) {
    for (const kind of new Set([...touched.values()].map((t) => t.kind))) {
      const ids = [...touched].filter(([, t]) => t.kind === kind).map(([id]) => id);
      for (const [id, status] of await finishIfDone(w, ownerId, kind, ids)) if (status !== undefined) known?.parents.set(id, status);
    }
    await changed(
      w,
      [...touched.values()].map((t) => t.row),
    );
  }
  const workers = rows.map((s) => ({ assigneeId: s.assigneeId, kind: s.coordinationId ? 'member' : 'agent' }) as const);
  await sawAssignees(w, ownerId, workers, now);
}

/**
 * Moving work: a replica taken from its assignee (to another one, or to
 * failed), everything of an assignee that went away, new subtasks stored,
 * open work withdrawn or handed on, and the claims they wake.
 */
import type { Tx } from '../db/database.ts';
import { attemptsEnded } from './attempts.ts';
import type { ParentRef } from './sql/cancel.ts';
import type { NewSubtask } from './sql/insert.ts';
import type { MovedFrom } from './sql/move.ts';
import { backupRunning, type EngineState } from './state.ts';
import type { SubtaskRow } from './subtasks.ts';
import { changed, idsByKind } from './views.ts';

/** Most assignees one work.assigned event names (events/NOTIFY sizes). */
const WAKE_CHUNK = 150;

/**
 * Take a held or assigned replica away from its assignee: to another one
 * by the parent's rules, or to failed once it has had max_attempts claims
 * (or nobody can take it). `from` is the state the caller saw; nothing
 * happens unless it still holds. A held lease's attempt ends as `ended`.
 * Call with the parent locked.
 */
export async function release(
  w: EngineState,
  tx: Tx,
  s: SubtaskRow,
  from: MovedFrom,
  error: string | null,
  ended: 'failed' | 'expired' | 'cancelled',
  now: Date,
): Promise<boolean> {
  const { parent, id } = w.parentOfRow(s);
  if (from.status === 'leased' && s.backupLeaseId && backupRunning(s, now)) {
    // A backup copy runs: it becomes the subtask's lease, and nothing goes back to the queue. When it cannot (the
    // first lease was extended since the caller read it, or is no longer this one), both copies run on untouched.
    if (!(await w.deps.sql.promoteBackup(tx.sql, s.id, from.leaseId, now, from.expiredBy))) return false;
    const attempts = await w.deps.sql.endAttempts(tx.sql, [from.leaseId], ended, now, ended === 'failed' ? error : null);
    if (ended !== 'cancelled') await attemptsEnded(w, tx, [s], attempts, ended, now);
    return true;
  }
  const exhausted = from.status === 'leased' && s.attempts >= s.maxAttempts;
  const next = exhausted ? null : await parent.reassign(tx, s, s.assigneeId ? [s.assigneeId] : [], now);
  const failure = exhausted
    ? `${error ?? 'failed'} (attempt ${s.attempts} of ${s.maxAttempts})`
    : (error ?? 'nobody is left who can run it');
  const moved = await w.deps.sql.moveSubtask(
    tx.sql,
    s.id,
    from,
    next?.assigneeId
      ? { status: 'assigned', assigneeId: next.assigneeId, claimBy: next.claimBy, error }
      : { status: 'failed', error: failure },
    now,
  );
  if (!moved) return false;
  if (from.status === 'leased') {
    const attempts = await w.deps.sql.endAttempts(tx.sql, [from.leaseId], ended, now, ended === 'failed' ? error : null);
    if (ended !== 'cancelled') await attemptsEnded(w, tx, [s], attempts, ended, now);
    // A backup copy whose lease had run out too went with the move: its attempt ends, as the backup sweep ends one.
    if (s.backupLeaseId) {
      const lapsed = await w.deps.sql.endAttempts(tx.sql, [s.backupLeaseId], 'expired', now);
      await attemptsEnded(w, tx, [s], lapsed, 'expired', now);
    }
  }
  if (next?.assigneeId) wake(w, tx, [next.assigneeId]);
  else await parent.settle(tx, id, [{ ...s, status: 'failed', error: failure }], now);
  return true;
}

/**
 * Every open subtask of an assignee that went away (a swarm member that
 * left or failed): held leases end as `ended`, and the work moves on.
 */
export async function releaseAllOf(
  w: EngineState,
  tx: Tx,
  assigneeId: string,
  ended: 'expired' | 'cancelled',
  why: string,
  now: Date,
): Promise<number> {
  const open = await w.deps.sql.openSubtasksOf(tx.sql, assigneeId);
  for (const [kind, ids] of idsByKind(open)) await w.parent(kind).lock(tx, ids, true, now);
  let moved = 0;
  let leases = 0;
  for (const s of open) {
    const from: MovedFrom = s.status === 'leased' ? { status: 'leased', leaseId: s.leaseId ?? '' } : { status: 'assigned', assigneeId };
    if (await release(w, tx, s, from, why, ended, now)) {
      moved++;
      if (from.status === 'leased') leases++;
    }
  }
  if (moved > 0)
    tx.afterCommit(() => {
      w.outcomes.leasesReleased[ended === 'expired' ? 'member_failed' : 'member_left'] += leases;
      changed(w, open);
    });
  return moved;
}

/**
 * New subtasks (an execution's, a task's, a next stage or replica): stored, and their assignees' waiting claims woken once
 * committed (with `alsoWake`: those who may steal them).
 */
export async function enqueue(w: EngineState, tx: Tx, rows: NewSubtask[], now: Date, alsoWake: string[] = []): Promise<void> {
  if (rows.length === 0) return;
  await w.deps.sql.insertSubtasks(tx.sql, rows, now);
  const woken = [...rows.map((r) => r.assigneeId), ...alsoWake];
  // A new parent: those it wakes read their open parents again.
  tx.afterCommit(() => {
    for (const id of woken) w.openParents.delete(id);
  });
  wake(w, tx, woken);
}

/** Withdraw a parent's open work (or one subtask's replicas): cancelled, and their open attempts too. */
export function cancelOpen(w: EngineState, tx: Tx, parent: ParentRef, seq: number | null, now: Date): Promise<number> {
  return w.deps.sql.cancelOpen(tx.sql, parent, seq, now);
}

/** Assigned work that should move on at the next sweep: its agent went offline, or left the network. */
export function handOn(
  w: EngineState,
  tx: Tx,
  which: { assigneeId: string } | { networkId: string; keeping: string[] },
  now: Date,
): Promise<number> {
  return w.deps.sql.handOnAt(tx.sql, which, now);
}

export function wake(w: EngineState, tx: Tx, assignees: string[]): void {
  const unique = [...new Set(assignees)];
  tx.afterCommit(() => {
    for (let i = 0; i < unique.length; i += WAKE_CHUNK)
      w.deps.events.publish({ kind: 'work.assigned', assignees: unique.slice(i, i + WAKE_CHUNK) });
  });
}

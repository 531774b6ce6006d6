/**
 * Moving work: a replica taken from its assignee (to another one, or to
 * failed), everything of an assignee that went away, new subtasks stored,
 * open work withdrawn or handed on, and the claims they wake.
 */
import type { Tx } from '../db/database.ts';
import type { Query } from '../db/sql.ts';
import { retryDelaySeconds } from '@aitbc/core';
import { attemptsEnded } from './attempts.ts';
import type { ParentRef } from './sql/cancel.ts';
import type { NewSubtask } from './sql/insert.ts';
import type { MovedFrom } from './sql/move.ts';
import { type ParentKind, parentOf } from './parent.ts';
import { backupRunning, type EngineState } from './state.ts';
import type { SubtaskRow } from './subtasks.ts';
import { changed, idsByKind } from './views.ts';

/** Most assignees one work.assigned event names (events/NOTIFY sizes). */
const WAKE_CHUNK = 150;

/**
 * A subtask's claims that count toward max_attempts: all of them but those given back (`cancelled`). The attempts
 * are read only when the claims alone would use every attempt up (rarely: a subtask failing for good, or one given
 * back before).
 */
async function attemptsUsed(w: EngineState, tx: Tx, s: SubtaskRow): Promise<number> {
  if (s.attempts < s.maxAttempts) return s.attempts;
  const attempts = await w.deps.sql.attemptsOf(tx.sql, s.id);
  return s.attempts - attempts.filter((a) => !a.backup && a.outcome === 'cancelled').length;
}

/**
 * Take a held or assigned replica away from its assignee: to another one
 * by the parent's rules, or to failed once it has had max_attempts claims
 * that failed or expired (or nobody can take it, or its worker said
 * retrying cannot help). A
 * failed attempt waits out the parent's retry backoff first (pending until
 * then; the sweep hands it on: handOnDue). `from` is the state the caller
 * saw; nothing happens unless it still holds. A held lease's attempt ends
 * as `ended`, with `error`. Call with the parent locked.
 */
export async function release(
  w: EngineState,
  tx: Tx,
  s: SubtaskRow,
  from: MovedFrom,
  error: string | null,
  ended: 'failed' | 'expired' | 'cancelled',
  now: Date,
  retryable = true,
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
  // A lease given back (`cancelled`: its member left, its host was quarantined) is not the work's failure: neither it
  // nor any given back before uses up the subtask's attempts, so members leaving cannot fail a task they never ran.
  const counts = from.status === 'leased' && ended !== 'cancelled';
  const used = counts ? await attemptsUsed(w, tx, s) : 0;
  const exhausted = counts && (used >= s.maxAttempts || !retryable);
  const next = exhausted ? null : await parent.reassign(tx, s, s.assigneeId ? [s.assigneeId] : [], now);
  const failure = exhausted
    ? `${error ?? 'failed'} (${retryable ? '' : 'not retryable; '}attempt ${used} of ${s.maxAttempts})`
    : (error ?? 'nobody is left who can run it');
  // A failure is retried after a backoff (an expired lease at once: its host is gone, not its input bad).
  const wait =
    ended === 'failed' && next?.assigneeId && next.retry ? retryDelaySeconds(s.attempts, retrySettings(next.retry), Math.random()) : 0;
  const moved = await w.deps.sql.moveSubtask(
    tx.sql,
    s.id,
    from,
    wait > 0 && s.assigneeId
      ? { status: 'pending', assigneeId: s.assigneeId, retryAt: new Date(now.getTime() + wait * 1000), error }
      : next?.assigneeId
        ? { status: 'assigned', assigneeId: next.assigneeId, claimBy: next.claimBy, error }
        : { status: 'failed', error: failure },
    now,
  );
  if (!moved) return false;
  if (wait > 0) tx.afterCommit(() => void w.outcomes.retriesDelayed++);
  if (from.status === 'leased') {
    const attempts = await w.deps.sql.endAttempts(tx.sql, [from.leaseId], ended, now, ended === 'cancelled' ? null : error);
    if (ended !== 'cancelled') await attemptsEnded(w, tx, [s], attempts, ended, now);
    // A backup copy whose lease had run out too went with the move: its attempt ends, as the backup sweep ends one.
    if (s.backupLeaseId) {
      const lapsed = await w.deps.sql.endAttempts(tx.sql, [s.backupLeaseId], 'expired', now);
      await attemptsEnded(w, tx, [s], lapsed, 'expired', now);
    }
  }
  if (wait > 0) return true;
  if (next?.assigneeId) wake(w, tx, [next.assigneeId]);
  else await parent.settle(tx, id, [{ ...s, status: 'failed', error: failure }], now);
  return true;
}

/**
 * A redrive: the parent's subtasks that ended undecided are queued again
 * with fresh attempts, each on the assignee the parent's rules choose now.
 * All or nothing: when one of them has nobody to run it, nothing is queued
 * and its seq is returned as `stuck`. Call with the parent locked.
 */
export async function requeueEnded(w: EngineState, tx: Tx, ref: ParentRef, now: Date): Promise<{ ids: string[] } | { stuck: number }> {
  const ended = await w.deps.sql.endedUndecided(tx.sql, ref);
  const plan: { s: SubtaskRow; assigneeId: string; claimBy: Date }[] = [];
  for (const s of ended) {
    const { parent } = w.parentOfRow(s);
    const next = await parent.reassign(tx, { ...s, assigneeId: null }, [], now);
    if (!next.assigneeId) return { stuck: s.seq };
    plan.push({ s, assigneeId: next.assigneeId, claimBy: next.claimBy });
  }
  const ids: string[] = [];
  for (const { s, assigneeId, claimBy } of plan)
    if (await w.deps.sql.requeueSubtask(tx.sql, s.id, { assigneeId, claimBy }, now)) ids.push(s.id);
  wake(
    w,
    tx,
    plan.map((p) => p.assigneeId),
  );
  tx.afterCommit(() => {
    w.outcomes.redriven += ids.length;
    for (const p of plan) w.openParents.delete(p.assigneeId);
  });
  return { ids };
}

const retrySettings = (r: { baseSeconds: number; maxSeconds: number }) => ({
  retry_base_seconds: r.baseSeconds,
  retry_max_seconds: r.maxSeconds,
});

/**
 * A failed subtask whose retry backoff is over: handed to the next assignee
 * (preferably not the one whose attempt failed), or failed when nobody is
 * left. Call with the parent locked. Conditional on it still waiting.
 */
export async function handOnDue(w: EngineState, tx: Tx, s: SubtaskRow, now: Date): Promise<boolean> {
  const { parent, id } = w.parentOfRow(s);
  if (!s.assigneeId) return false;
  const next = await parent.reassign(tx, s, [s.assigneeId], now);
  const failure = s.error ?? 'nobody is left who can run it';
  const from: MovedFrom = { status: 'pending', assigneeId: s.assigneeId, dueBy: now };
  const to = next.assigneeId
    ? ({ status: 'assigned', assigneeId: next.assigneeId, claimBy: next.claimBy, error: s.error } as const)
    : ({ status: 'failed', error: `${failure} (nobody is left who can run it)` } as const);
  if (!(await w.deps.sql.moveSubtask(tx.sql, s.id, from, to, now))) return false;
  if (next.assigneeId) wake(w, tx, [next.assigneeId]);
  else await parent.settle(tx, id, [{ ...s, status: 'failed', error: to.error }], now);
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
 * committed (with `alsoWake`: those who may steal them). `urgent`: any of those takes them first (urgent.ts), on every
 * instance.
 */
export async function enqueue(
  w: EngineState,
  tx: Tx,
  rows: NewSubtask[],
  now: Date,
  alsoWake: string[] = [],
  urgent = false,
  leading?: Query,
): Promise<void> {
  // With no rows, `leading` (a parent's own row) is still written.
  await w.deps.sql.insertSubtasks(tx.sql, rows, now, leading);
  if (rows.length === 0) return;
  const woken = [...rows.map((r) => r.assigneeId), ...alsoWake];
  // A new parent: those it wakes read their open parents again.
  tx.afterCommit(() => {
    for (const id of woken) w.openParents.delete(id);
    if (!urgent || alsoWake.length === 0) return;
    const parents = new Map<string, { kind: ParentKind; subtasks: number }>();
    for (const r of rows) {
      const of = parentOf(r)!;
      parents.set(of.id, { kind: of.kind, subtasks: (parents.get(of.id)?.subtasks ?? 0) + 1 });
    }
    for (const [id, p] of parents)
      w.deps.events.publish({ kind: 'work.urgent', owner_id: rows[0]!.ownerId, parent_kind: p.kind, parent_id: id, subtasks: p.subtasks });
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

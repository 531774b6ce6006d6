/**
 * The engine's sweep pass (one of those work/sweeper.ts runs): what moves on
 * by time alone.
 */
import { dropBackup } from './attempts.ts';
import { handOnDue, release, wake } from './release.ts';
import { traceWork } from './spans.ts';
import type { MovedFrom } from './sql/move.ts';
import type { EngineState } from './state.ts';
import type { SubtaskRow } from './subtasks.ts';
import { changed } from './views.ts';

/** Rows one sweep pass handles; the next pass (a second later) takes the rest. */
const SWEEP_BATCH = 100;

/**
 * What moves on by time alone: leases that ran out go back to the queue
 * (another assignee preferred) or fail after max_attempts (a lease capped at
 * its attempt's time limit among them), assignments nobody claimed within
 * their claim window move on, and failures whose retry backoff is over are
 * handed out. Each subtask is its
 * own transaction with conditional updates, so concurrent sweepers
 * (several server instances) act on each subtask at most once.
 */
export async function sweep(w: EngineState, now = w.deps.clock.now()): Promise<{ expired: number; reassigned: number; retried: number }> {
  const { db, sql } = w.deps;
  const [expiring, unclaimed, backups] = await db.run((_, q) =>
    Promise.all([
      sql.expiredLeases(q, now, SWEEP_BATCH),
      sql.unclaimedAssignments(q, now, SWEEP_BATCH),
      sql.expiredBackups(q, now, SWEEP_BATCH),
    ]),
  );
  let expired = 0;
  let reassigned = 0;
  let retried = 0;
  const lapsed: SubtaskRow[] = [];
  const moved: SubtaskRow[] = [];
  for (const s of backups) {
    const done = await db.transaction(async (tx) => {
      const { kind, id } = w.parentOfRow(s);
      await w.parent(kind).lock(tx, [id], true, now);
      const timedOut = pastLimit(s.backupDeadlineAt, now);
      const dropped = await dropBackup(w, tx, s, timedOut ? timeLimitError(s) : 'lease expired', 'expired', now);
      if (dropped)
        tx.afterCommit(() => {
          w.outcomes.leasesExpired++;
          if (timedOut) w.outcomes.attemptsTimedOut++;
        });
      return dropped;
    });
    if (done) {
      expired++;
      lapsed.push(s);
    }
  }
  for (const s of expiring) {
    const done = await db.transaction(async (tx) => {
      const { kind, id } = w.parentOfRow(s);
      await w.parent(kind).lock(tx, [id], true, now);
      const timedOut = pastLimit(s.attemptDeadlineAt, now);
      const released = await release(
        w,
        tx,
        s,
        { status: 'leased', leaseId: s.leaseId ?? '', expiredBy: now },
        timedOut ? timeLimitError(s) : 'lease expired',
        'expired',
        now,
      );
      if (released)
        tx.afterCommit(() => {
          w.outcomes.leasesExpired++;
          if (timedOut) w.outcomes.attemptsTimedOut++;
          changed(w, [s]);
        });
      return released;
    });
    if (done) {
      expired++;
      lapsed.push(s);
    }
  }
  for (const s of unclaimed.filter((u) => u.status === 'pending')) {
    const done = await db.transaction(async (tx) => {
      const { kind, id } = w.parentOfRow(s);
      await w.parent(kind).lock(tx, [id], true, now);
      const handed = await handOnDue(w, tx, s, now);
      if (handed) tx.afterCommit(() => changed(w, [s]));
      return handed;
    });
    if (done) retried++;
  }
  for (const s of unclaimed.filter((u) => u.status === 'assigned')) {
    const done = await db.transaction(async (tx) => {
      const { kind, id, parent } = w.parentOfRow(s);
      if (!s.assigneeId) return false;
      await w.parent(kind).lock(tx, [id], true, now);
      const next = await parent.reassign(tx, s, [s.assigneeId], now);
      if (!next.assigneeId || next.assigneeId === s.assigneeId) {
        await sql.renewClaimWindow(tx.sql, s.id, s.assigneeId, next.claimBy, now);
        return false;
      }
      const from: MovedFrom = { status: 'assigned', assigneeId: s.assigneeId, unclaimedBy: now };
      if (
        !(await sql.moveSubtask(
          tx.sql,
          s.id,
          from,
          { status: 'assigned', assigneeId: next.assigneeId, claimBy: next.claimBy, error: null },
          now,
        ))
      )
        return false;
      wake(w, tx, [next.assigneeId]);
      tx.afterCommit(() => changed(w, [s]));
      return true;
    });
    if (done) {
      reassigned++;
      moved.push(s);
    }
  }
  traceWork(w, 'sweep: lease expired', lapsed, now);
  traceWork(w, 'sweep: reassigned unclaimed', moved, now);
  return { expired, reassigned, retried };
}

/** The attempt's time limit had come by `now` (its lease was capped there). */
const pastLimit = (deadline: Date | null, now: Date) => deadline !== null && deadline.getTime() <= now.getTime();

const timeLimitError = (s: SubtaskRow) =>
  `the attempt ran past its time limit (max_attempt_seconds ${s.maxAttemptSeconds}), whatever its heartbeats said`;

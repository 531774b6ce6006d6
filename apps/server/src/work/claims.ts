/**
 * Claims: an assignee's own subtasks leased to it (else others' work, see
 * stealing.ts), a long poll while none is waiting, and the claimed rows as
 * the claimant gets them.
 */
import type { ClaimedSubtask } from '@aitbc/core';
import type { Sql } from '../db/sql.ts';
import { markStarted, parentOf } from './parent.ts';
import { traceWork } from './spans.ts';
import { type Assignee, type EngineState, STARTED_MEMORY } from './state.ts';
import { takeFromOthers } from './stealing.ts';
import { claimedUrgent, takeUrgent } from './urgent.ts';
import type { ClaimedRow } from './sql/claim.ts';
import type { SubtaskRow } from './subtasks.ts';
import { describe, idsByKind } from './views.ts';

export interface ClaimOptions {
  max: number;
  leaseSeconds?: number | undefined;
  /** Long poll: wait up to this long for work when none is waiting. */
  waitSeconds?: number | undefined;
  /** Ends a long poll early (the client went away). */
  signal?: AbortSignal | undefined;
}

/** An idle long poll looks for stragglers again at least this far apart. */
const RECHECK_MIN_MS = 50;

/**
 * Up to `max` of the assignee's subtasks, leased to the caller. With
 * `waitSeconds`, an empty claim waits (without touching the database)
 * until work is assigned to it, the wait ends, or the server closes.
 */
export async function claim(w: EngineState, ownerId: string, who: Assignee, options: ClaimOptions): Promise<ClaimedSubtask[]> {
  await w.deps.presence.seen(ownerId, who, w.deps.clock.now());
  const wait = options.waitSeconds ?? 0;
  // Watch first: an assignment between an empty claim and the wait must still wake it.
  const watch = wait > 0 ? w.deps.waiters.watch(who.id) : null;
  try {
    const deadline = Date.now() + wait * 1000;
    // Woken by an event (new work): a full claim. Woken by the clock (a straggler's threshold): backups only, as
    // nothing new was assigned meanwhile; that look reads nothing while the parents' runs are fresh (runsOf).
    let backupsOnly = false;
    for (;;) {
      const { claimed, recheckAt } = await claimNow(w, ownerId, who, options.max, options.leaseSeconds, backupsOnly);
      if (claimed.length > 0 || !watch) return claimed;
      const until = recheckAt === null ? deadline : Math.min(deadline, Math.max(recheckAt, Date.now() + RECHECK_MIN_MS));
      const woken = await watch.next(until, options.signal);
      if (!woken && (until >= deadline || options.signal?.aborted || w.closed || watch.interrupted)) return claimed;
      backupsOnly = !woken;
    }
  } finally {
    watch?.dispose();
  }
}

async function claimNow(
  w: EngineState,
  ownerId: string,
  who: Assignee,
  max: number,
  leaseSeconds: number | undefined,
  backupsOnly = false,
): Promise<{ claimed: ClaimedSubtask[]; recheckAt: number | null }> {
  const now = w.deps.clock.now();
  const input = { ownerId, assigneeId: who.id, max, leaseSeconds, now, running: w.startedParents };
  // Urgent work planned for others first (urgent.ts).
  const urgent = backupsOnly ? [] : await takeUrgent(w, ownerId, who, max, leaseSeconds, now);
  // Then its own: PostgreSQL claims them in one statement, committed on its own (no BEGIN or COMMIT to wait for);
  // SQLite in one transaction, under its gate. Either marks their parents running.
  const own =
    backupsOnly || urgent.length > 0
      ? []
      : w.deps.db.provider === 'postgresql'
        ? await w.deps.db.statement((q) => w.deps.sql.claimSubtasks(q, input))
        : await w.deps.db.transaction((tx) => w.deps.sql.claimSubtasks(tx.sql, input));
  const found = urgent.length > 0 ? urgent : own;
  // Nothing of its own waiting: take others' unclaimed work, else back up a straggler.
  const taken =
    found.length > 0
      ? { rows: found, backups: new Set<string>(), recheckAt: null }
      : await takeFromOthers(w, ownerId, who, max, leaseSeconds, now, !backupsOnly);
  claimedUrgent(w, taken.rows);
  traceWork(w, taken.backups.size ? 'claim backup' : 'claim', taken.rows, now);
  return { claimed: await handOut(w, taken.rows, taken.backups, now), recheckAt: taken.recheckAt };
}

/** Claimed rows as the claimant gets them (`backups`: the ids it holds a backup copy of). */
async function handOut(w: EngineState, rows: ClaimedRow[], backups: Set<string>, now: Date): Promise<ClaimedSubtask[]> {
  if (rows.length === 0) return [];
  // A parent the claim left queued (on PostgreSQL, one another transaction held) is marked started after it
  // committed: a claim never waits for a parent's lock. Each parent's update commits on its own and may lose a
  // deadlock to a transaction moving those parents (a vote, a settle): retried, as it changes only what is queued.
  remember(
    w,
    rows.filter((s) => s.parentStarted),
  );
  const fresh = rows.filter((s) => !w.startedParents.has(parentOf(s)!.id));
  if (fresh.length > 0) await w.deps.db.statement((sql) => startParents(w, sql, fresh, now));
  const about = await w.deps.db.run((_, sql) => describe(w, sql, rows));
  return rows.map((s) => {
    const parent = about.get(parentOf(s)!.id);
    const backup = backups.has(s.id);
    return {
      subtask_id: s.id,
      lease_id: backup ? s.backupLeaseId! : s.leaseId!,
      lease_expires_at: (backup ? s.backupLeaseExpiresAt! : s.leaseExpiresAt!).toISOString(),
      execution_id: parent?.execution_id ?? null,
      network_id: parent?.network_id ?? null,
      task_id: parent?.task_id ?? null,
      swarm_id: parent?.swarm_id ?? null,
      seq: s.seq,
      replica: s.replica,
      attempt: s.attempts,
      backup,
      payload: s.payload,
      requires: (s.requires as string[] | null) ?? [],
    };
  });
}

async function startParents(w: EngineState, sql: Sql, rows: SubtaskRow[], now: Date): Promise<void> {
  for (const [kind, ids] of idsByKind(rows)) await markStarted(sql, kind, ids, now);
  remember(w, rows);
}

/** Parents known to be running: later claims of their work skip marking them. */
function remember(w: EngineState, rows: SubtaskRow[]): void {
  for (const s of rows) {
    if (w.startedParents.size >= STARTED_MEMORY) w.startedParents.clear();
    w.startedParents.add(parentOf(s)!.id);
  }
}

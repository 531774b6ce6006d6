/**
 * Claim attempts that end: each parent counts its own, and a backup copy
 * that ends leaves the subtask running under its first lease. Shared by
 * results (results.ts), moving work (release.ts) and the sweep (sweep.ts).
 */
import type { Tx } from '../db/database.ts';
import type { EndedAttempt, ParentKind } from './parent.ts';
import { parentOf } from './parent.ts';
import type { EndedAttemptRow } from './sql/attempts.ts';
import { type EngineState, seconds } from './state.ts';
import type { SubtaskRow } from './subtasks.ts';

/** A backup copy ends (its holder failed it, or its lease ran out): the subtask runs on under its first lease. */
export async function dropBackup(
  w: EngineState,
  tx: Tx,
  s: SubtaskRow,
  error: string | null,
  ended: 'failed' | 'expired',
  now: Date,
): Promise<boolean> {
  const lease = s.backupLeaseId!;
  if (!(await w.deps.sql.dropBackup(tx.sql, s.id, lease, now, ended === 'expired' ? now : undefined))) return false;
  const attempts = await w.deps.sql.endAttempts(tx.sql, [lease], ended, now, error);
  await attemptsEnded(w, tx, [s], attempts, ended, now);
  return true;
}

/** Claim attempts ended: each parent counts its own (each kind's parents in one call). */
export async function attemptsEnded(
  w: EngineState,
  tx: Tx,
  rows: SubtaskRow[],
  ended: EndedAttemptRow[],
  outcome: EndedAttempt['outcome'],
  now: Date,
): Promise<void> {
  const bySubtask = new Map(rows.map((s) => [s.id, s]));
  const byParent = new Map<string, { kind: ParentKind; attempts: EndedAttempt[] }>();
  for (const a of ended) {
    const s = bySubtask.get(a.subtaskId);
    const of = s && parentOf(s);
    if (!of) continue;
    const entry = byParent.get(of.id) ?? { kind: of.kind, attempts: [] };
    byParent.set(of.id, entry);
    entry.attempts.push({ assigneeId: a.assigneeId, outcome, seconds: outcome === 'completed' ? seconds(a.startedAt, now) : 0 });
  }
  // Each kind's parents in one call, in id order.
  const sorted = [...byParent].sort(([a], [b]) => (a < b ? -1 : 1));
  for (const kind of new Set(sorted.map(([, e]) => e.kind)))
    await w.parent(kind).attemptsEnded(tx, new Map(sorted.filter(([, e]) => e.kind === kind).map(([id, e]) => [id, e.attempts])), now);
}

/**
 * Which running subtasks are stragglers, as MapReduce's backup tasks and
 * Spark's speculation decide it: once `quantile` of a parent's subtasks are
 * finished, one that has run longer than `multiplier` × their median task
 * time gets a backup copy. Pure: the work engine reads the runs and acts.
 */
import type { SpeculationView } from '../schemas/stragglers.ts';

/** One of a parent's subtasks as speculation sees it. */
export interface Run {
  id: string;
  /** finished: its task time is known; running: it has run `seconds` so far. */
  state: 'finished' | 'running' | 'waiting';
  seconds: number;
  /** A backup copy runs already (never two). */
  backedUp: boolean;
}

export interface StragglerRule {
  multiplier: number;
  quantile: number;
}

export interface Stragglers {
  /** Running subtasks past the threshold without a backup, longest-running first. */
  ids: string[];
  /** Seconds from now until the next running subtask crosses the threshold (null: none will, as things stand). */
  nextInSeconds: number | null;
  /** Subtasks are running but too few have finished to judge them yet: look again as more finish. */
  watching: boolean;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Nothing while work still waits to be claimed (stealing and the queue come
 * first), or before `quantile` of the runs are finished.
 */
export function findStragglers(runs: Run[], rule: StragglerRule): Stragglers {
  const none: Stragglers = { ids: [], nextInSeconds: null, watching: false };
  if (runs.length === 0 || runs.some((r) => r.state === 'waiting')) return none;
  const finished = runs.filter((r) => r.state === 'finished');
  if (finished.length === 0 || finished.length < rule.quantile * runs.length)
    return { ...none, watching: runs.some((r) => r.state === 'running' && !r.backedUp) };
  const threshold = rule.multiplier * median(finished.map((r) => r.seconds));
  const running = runs.filter((r) => r.state === 'running' && !r.backedUp);
  const past = running.filter((r) => r.seconds > threshold).sort((a, b) => b.seconds - a.seconds);
  const later = running.filter((r) => r.seconds <= threshold).map((r) => threshold - r.seconds);
  return { ids: past.map((r) => r.id), nextInSeconds: later.length ? Math.min(...later) : null, watching: false };
}

/** A parent's backup copies as a status reports them, from its counters. */
export function speculationView(counts: { backupsLaunched: number; backupsWon: number; backupSecondsSaved: number }): SpeculationView {
  return {
    backups_launched: counts.backupsLaunched,
    backups_won: counts.backupsWon,
    time_saved_seconds: Math.round(counts.backupSecondsSaved * 1000) / 1000,
  };
}

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
  /**
   * When to look again, in seconds from now: when the next running subtask crosses the threshold, or, while work
   * still waits to be claimed or too few have finished to judge, soon (null: nothing is open to watch).
   */
  nextInSeconds: number | null;
}

/** No subtask is a straggler before it has run this long, however short its siblings were (Spark's speculation.minTaskRuntime). */
export const MIN_STRAGGLER_SECONDS = 0.1;
const WATCH_MIN_SECONDS = 0.25;
const WATCH_MAX_SECONDS = 1;

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
  const none: Stragglers = { ids: [], nextInSeconds: null };
  if (runs.length === 0) return none;
  // Work still waits for a claim (it is about to be taken), or too little has finished to judge: look again soon.
  const finished = runs.filter((r) => r.state === 'finished');
  if (runs.some((r) => r.state === 'waiting') || finished.length === 0 || finished.length < rule.quantile * runs.length) {
    const open = runs.some((r) => r.state !== 'finished' && !r.backedUp);
    // Half a typical task time (1 s before any finished), within 0.25 … 1 s.
    const typical = finished.length ? median(finished.map((r) => r.seconds)) / 2 : WATCH_MAX_SECONDS;
    return { ...none, nextInSeconds: open ? Math.min(WATCH_MAX_SECONDS, Math.max(WATCH_MIN_SECONDS, typical)) : null };
  }
  const threshold = Math.max(MIN_STRAGGLER_SECONDS, rule.multiplier * median(finished.map((r) => r.seconds)));
  const running = runs.filter((r) => r.state === 'running' && !r.backedUp);
  const past = running.filter((r) => r.seconds > threshold).sort((a, b) => b.seconds - a.seconds);
  const later = running.filter((r) => r.seconds <= threshold).map((r) => threshold - r.seconds);
  return { ids: past.map((r) => r.id), nextInSeconds: later.length ? Math.min(...later) : null };
}

/** A parent's backup copies as a status reports them, from its counters. */
export function speculationView(counts: { backupsLaunched: number; backupsWon: number; backupSecondsSaved: number }): SpeculationView {
  return {
    backups_launched: counts.backupsLaunched,
    backups_won: counts.backupsWon,
    time_saved_seconds: Math.round(counts.backupSecondsSaved * 1000) / 1000,
  };
}

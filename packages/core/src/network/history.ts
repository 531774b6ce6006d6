/**
 * The dashboard's throughput chart from recorded attempts: per-minute counts
 * of attempts completed and failed (or expired), and the p95 of completed
 * attempts' task time, per minute and over the window. An attempt counts in
 * the minute it ended; `start` is the first minute's start (a whole minute),
 * and the last bucket is the current, partial minute.
 */
import type { HistoryPoint, HistoryView } from '../schemas/dashboard.ts';
import { percentile } from './metrics.ts';

export const MINUTE_MS = 60_000;

export interface RecordedAttempt {
  outcome: string;
  startedAt: Date;
  endedAt: Date;
}

const round3 = (n: number | null) => (n === null ? null : Math.round(n * 1000) / 1000);

export function throughputHistory(
  attempts: readonly RecordedAttempt[],
  start: number,
  minutes: number,
): { points: HistoryPoint[]; totals: HistoryView['totals'] } {
  const buckets = Array.from({ length: minutes }, () => ({ completed: 0, failed: 0, seconds: [] as number[] }));
  const all: number[] = [];
  for (const a of attempts) {
    const ended = a.endedAt.getTime();
    const bucket = buckets[Math.floor((ended - start) / MINUTE_MS)];
    if (!bucket) continue;
    if (a.outcome === 'completed') {
      const seconds = Math.max(0, (ended - a.startedAt.getTime()) / 1000);
      bucket.completed++;
      bucket.seconds.push(seconds);
      all.push(seconds);
    } else {
      bucket.failed++;
    }
  }
  return {
    points: buckets.map((b, i) => ({
      at: new Date(start + i * MINUTE_MS).toISOString(),
      completed: b.completed,
      failed: b.failed,
      p95_task_time: round3(percentile(b.seconds, 95)),
    })),
    totals: {
      completed: all.length,
      failed: buckets.reduce((n, b) => n + b.failed, 0),
      throughput: Math.round((all.length / minutes) * 1000) / 1000,
      p95_task_time: round3(percentile(all, 95)),
    },
  };
}

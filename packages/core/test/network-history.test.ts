import { describe, expect, it } from 'vitest';
import { MINUTE_MS, throughputHistory } from '../src/index.ts';

describe('throughput history', () => {
  const start = Date.UTC(2026, 11, 1, 12, 0);
  const attempt = (outcome: string, endedMinute: number, seconds: number) => ({
    outcome,
    startedAt: new Date(start + endedMinute * MINUTE_MS - seconds * 1000),
    endedAt: new Date(start + endedMinute * MINUTE_MS),
  });

  it('counts each attempt in the minute it ended, with per-minute and overall p95 task time', () => {
    const { points, totals } = throughputHistory(
      [
        attempt('completed', 0.5, 2),
        attempt('completed', 0.7, 4),
        attempt('failed', 0.9, 1),
        attempt('expired', 2.1, 9),
        attempt('completed', 2.5, 1),
      ],
      start,
      3,
    );
    expect(points.map((p) => [p.at, p.completed, p.failed, p.p95_task_time])).toEqual([
      [new Date(start).toISOString(), 2, 1, 4],
      [new Date(start + MINUTE_MS).toISOString(), 0, 0, null],
      [new Date(start + 2 * MINUTE_MS).toISOString(), 1, 1, 1],
    ]);
    expect(totals).toEqual({ completed: 3, failed: 2, throughput: 1, p95_task_time: 4 });
  });

  it('leaves out attempts that ended outside the window', () => {
    const { totals } = throughputHistory([attempt('completed', -0.5, 1), attempt('completed', 3.2, 1)], start, 3);
    expect(totals).toEqual({ completed: 0, failed: 0, throughput: 0, p95_task_time: null });
  });
});

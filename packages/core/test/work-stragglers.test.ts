import { describe, expect, it } from 'vitest';
import { finishesSooner, findStragglers, MIN_STRAGGLER_SECONDS, median, type Run, speculationView } from '../src/index.ts';

const rule = { multiplier: 1.5, quantile: 0.75 };
const finished = (id: string, seconds: number): Run => ({ id, state: 'finished', seconds, backedUp: false });
const running = (id: string, seconds: number, backedUp = false): Run => ({ id, state: 'running', seconds, backedUp });

describe('findStragglers', () => {
  it('names the running subtasks past multiplier × the finished ones’ median, longest first, and when the next will cross', () => {
    const runs = [finished('a', 1), finished('b', 2), finished('c', 3), running('slow', 3.5), running('slower', 9), running('ok', 2)];
    // 3 of 6 finished: not yet at 0.75.
    expect(findStragglers(runs, rule).ids).toEqual([]);
    const more = [...runs, finished('d', 2), finished('e', 2), finished('f', 2), finished('g', 2), finished('h', 2), finished('i', 2)];
    // median 2 → threshold 3
    expect(findStragglers(more, rule)).toEqual({ ids: ['slower', 'slow'], nextInSeconds: 1 });
  });

  it('never backs up one that has a backup, and waits while work is still queued', () => {
    const runs = [finished('a', 1), finished('b', 1), finished('c', 1), running('x', 10, true)];
    expect(findStragglers(runs, rule)).toEqual({ ids: [], nextInSeconds: null });
    const queued = [
      finished('a', 1),
      finished('b', 1),
      finished('c', 1),
      running('x', 10),
      { id: 'q', state: 'waiting', seconds: 0, backedUp: false } as Run,
    ];
    const found = findStragglers(queued, { multiplier: 1.5, quantile: 0.5 });
    expect(found.ids).toEqual([]);
    expect(found.nextInSeconds).toBe(0.5); // half the median: look again soon
    const quick = [
      finished('a', 0.01),
      finished('b', 0.01),
      running('x', 0.02),
      { id: 'q', state: 'waiting', seconds: 0, backedUp: false } as Run,
    ];
    expect(findStragglers(quick, rule).nextInSeconds).toBe(0.25); // never sooner than 0.25 s
  });

  it('has a floor: nothing is a straggler before MIN_STRAGGLER_SECONDS, however short its siblings', () => {
    const runs = [finished('a', 0.001), finished('b', 0.001), finished('c', 0.001), running('x', MIN_STRAGGLER_SECONDS / 2)];
    const found = findStragglers(runs, rule);
    expect(found.ids).toEqual([]);
    expect(found.nextInSeconds).toBeCloseTo(MIN_STRAGGLER_SECONDS / 2);
  });

  it('median of an even count averages the middle two', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5])).toBe(5);
  });
});

describe('finishesSooner (centralized decides a steal again)', () => {
  it('takes a subtask only if the thief finishes it before the assignee would reach it', () => {
    expect(finishesSooner(2, 1, 3)).toBe(true); // 2 s now against 3 queued × 1 s
    expect(finishesSooner(4, 1, 3)).toBe(false);
    expect(finishesSooner(1, 1, 1)).toBe(false); // its last one: no gain
    expect(finishesSooner(null, 1, 2)).toBe(true); // unmeasured thief counts as the assignee
    expect(finishesSooner(null, null, 1)).toBe(false);
  });
});

describe('speculationView', () => {
  it('reports the counters, the time saved to the millisecond', () => {
    expect(speculationView({ backupsLaunched: 3, backupsWon: 2, backupSecondsSaved: 8.12345 })).toEqual({
      backups_launched: 3,
      backups_won: 2,
      time_saved_seconds: 8.123,
    });
  });
});

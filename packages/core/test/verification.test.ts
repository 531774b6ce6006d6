import { describe, expect, it } from 'vitest';
import {
  type CopyOutcome,
  DEFAULT_VERIFICATION,
  decideCopies,
  groupResults,
  isQuarantined,
  isTrusted,
  NEW_VALIDATION_RECORD,
  planAssignments,
  chooseAgent,
  recordChecked,
  resultsAgree,
  spotCheckDue,
  takesProbation,
  type ValidationRecord,
  VerificationInput,
  verificationSettings,
  type Candidate,
} from '../src/index.ts';

const exact = { ...DEFAULT_VERIFICATION, comparator: 'exact' as const };
const numeric = { ...DEFAULT_VERIFICATION, comparator: 'numeric' as const, relative_tolerance: 1e-6, absolute_tolerance: 1e-9 };
const set = { ...DEFAULT_VERIFICATION, comparator: 'set' as const };

describe('comparators', () => {
  it('exact: equal canonical JSON, whatever the key order', () => {
    expect(resultsAgree({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, exact)).toBe(true);
    expect(resultsAgree({ a: 1, b: [1, 2] }, { a: 1, b: [2, 1] }, exact)).toBe(false);
    expect(resultsAgree(0.1 + 0.2, 0.3, exact)).toBe(false);
  });

  it('numeric: every number within max(absolute, relative × magnitude), the shape otherwise equal', () => {
    expect(resultsAgree(0.1 + 0.2, 0.3, numeric)).toBe(true);
    expect(resultsAgree({ loss: 1_000_000, w: [1, 2] }, { w: [1, 2.000001], loss: 1_000_000.5 }, numeric)).toBe(true);
    expect(resultsAgree({ loss: 1_000_000 }, { loss: 1_000_002 }, numeric)).toBe(false); // 2e-6 relative
    expect(resultsAgree(0, 1e-10, numeric)).toBe(true); // within the absolute tolerance
    expect(resultsAgree(0, 1e-8, numeric)).toBe(false);
    expect(resultsAgree([1, 2], [1, 2, 3], numeric)).toBe(false);
    expect(resultsAgree({ a: 1 }, { a: 1, b: 1 }, numeric)).toBe(false);
    expect(resultsAgree({ a: 'x', n: 1 }, { a: 'y', n: 1 }, numeric)).toBe(false);
    expect(resultsAgree(1, '1', numeric)).toBe(false);
  });

  it('set: every array, at any depth, compared without order or repeats', () => {
    expect(resultsAgree(['b', 'a', 'a'], ['a', 'b'], set)).toBe(true);
    expect(resultsAgree({ tags: [[2, 1], [3]] }, { tags: [[3], [1, 2]] }, set)).toBe(true);
    expect(resultsAgree(['a', 'b'], ['a', 'c'], set)).toBe(false);
    expect(resultsAgree({ a: 1 }, { a: 2 }, set)).toBe(false);
  });

  it('groups agreeing results, largest first, each result joining the first group whose reference it matches', () => {
    const items = [1, 1.0000001, 2, 2, 2].map((result, replica) => ({ replica, result }));
    expect(groupResults(items, (i) => i.result, numeric).map((g) => g.map((i) => i.replica))).toEqual([
      [2, 3, 4],
      [0, 1],
    ]);
    expect(groupResults(items, (i) => i.result, exact).map((g) => g.map((i) => i.replica))).toEqual([[2, 3, 4], [0], [1]]);
    // Ties: the group whose first member came first.
    expect(groupResults(['b', 'a'], (x) => x, exact)).toEqual([['b'], ['a']]);
  });
});

describe('verification settings', () => {
  it('fills the defaults: k = q = 2, 4 copies at most, N = 10, r = 0.1, exact, 2 of 10 for an hour', () => {
    expect(verificationSettings({ policy: 'adaptive' })).toEqual({ ...DEFAULT_VERIFICATION, policy: 'adaptive' });
    expect(DEFAULT_VERIFICATION).toMatchObject({
      policy: 'none',
      copies: 2,
      quorum: 2,
      max_copies: 4,
      trust_after: 10,
      spot_check_rate: 0.1,
      comparator: 'exact',
      quarantine_after: 2,
      quarantine_seconds: 3600,
    });
  });

  it('refuses a quorum or copies above max_copies, unknown fields and unknown comparators', () => {
    expect(VerificationInput.safeParse({ policy: 'replicate', quorum: 5 }).success).toBe(false);
    expect(VerificationInput.safeParse({ policy: 'replicate', copies: 3, max_copies: 2 }).success).toBe(false);
    expect(VerificationInput.safeParse({ policy: 'replicate', copies: 3, quorum: 2, max_copies: 3 }).success).toBe(true);
    expect(VerificationInput.safeParse({ policy: 'replicate', k: 3 }).success).toBe(false);
    expect(VerificationInput.safeParse({ comparator: 'python' }).success).toBe(false);
  });
});

const done = (replica: number, result: unknown, trusted = false): CopyOutcome => ({ replica, state: 'completed', result, trusted });
const open = (replica: number): CopyOutcome => ({ replica, state: 'open' });
const failed = (replica: number): CopyOutcome => ({ replica, state: 'failed' });
const free = { canAdd: 10, spotCheck: false };

describe('decideCopies: replicate', () => {
  const k3 = { ...exact, policy: 'replicate' as const, copies: 3, quorum: 2, max_copies: 4 };
  it('validates as soon as a quorum agrees, even while a copy still runs; the rest of the completed dissent', () => {
    expect(decideCopies([done(0, 1), open(1), done(2, 1)], k3, free)).toEqual({
      state: 'validated',
      by: 'quorum',
      winner: 0,
      agreeing: [0, 2],
      dissenting: [],
    });
    expect(decideCopies([done(0, 7), done(1, 1), done(2, 1)], k3, free)).toMatchObject({ winner: 1, agreeing: [1, 2], dissenting: [0] });
  });

  it('waits while open copies can still make the quorum, and adds the missing copies once they cannot', () => {
    expect(decideCopies([done(0, 1), open(1), open(2)], k3, free)).toEqual({ state: 'waiting' });
    expect(decideCopies([done(0, 1), done(1, 2), open(2)], k3, free)).toEqual({ state: 'waiting' });
    const q3 = { ...k3, quorum: 3, max_copies: 6 };
    // The largest group (1) plus the one open copy is short of 3: one more now, not after the open one.
    expect(decideCopies([done(0, 1), done(1, 2), open(2)], q3, free)).toEqual({ state: 'add_copies', count: 1 });
    expect(decideCopies([done(0, 1), done(1, 2), done(2, 3)], k3, free)).toEqual({ state: 'add_copies', count: 1 });
  });

  it('is inconclusive, every answer kept, once max_copies ran without a quorum or no host is left', () => {
    const four = [done(0, 1), done(1, 2), done(2, 3), done(3, 4)];
    expect(decideCopies(four, k3, free)).toMatchObject({ state: 'inconclusive', answers: 4 });
    expect(decideCopies([done(0, 1), done(1, 2), done(2, 3)], k3, { canAdd: 0, spotCheck: false })).toMatchObject({
      state: 'inconclusive',
      answers: 3,
    });
  });

  it('a failed copy gives no answer but counts toward max_copies; all failed, the subtask fails', () => {
    expect(decideCopies([done(0, 1), failed(1)], k3, free)).toEqual({ state: 'add_copies', count: 1 });
    expect(decideCopies([done(0, 1), failed(1), failed(2), failed(3)], k3, free)).toMatchObject({ state: 'inconclusive' });
    expect(decideCopies([failed(0), failed(1)], k3, free)).toEqual({ state: 'failed', reason: 'every copy failed' });
  });
});

describe('decideCopies: adaptive', () => {
  const adaptive = { ...exact, policy: 'adaptive' as const };
  it('a trusted host’s lone result is validated by trust unless drawn for a spot check', () => {
    expect(decideCopies([done(0, 5, true)], adaptive, free)).toEqual({
      state: 'validated',
      by: 'trust',
      winner: 0,
      agreeing: [0],
      dissenting: [],
    });
    expect(decideCopies([done(0, 5, true)], adaptive, { canAdd: 10, spotCheck: true })).toEqual({ state: 'add_copies', count: 1 });
  });

  it('an untrusted host’s result gets copies until a quorum agrees; nothing is added while the first copy runs', () => {
    expect(decideCopies([open(0)], adaptive, free)).toEqual({ state: 'waiting' });
    expect(decideCopies([done(0, 5)], adaptive, free)).toEqual({ state: 'add_copies', count: 1 });
    expect(decideCopies([done(0, 5), open(1)], adaptive, free)).toEqual({ state: 'waiting' });
    expect(decideCopies([done(0, 5), done(1, 5, true)], adaptive, free)).toMatchObject({
      state: 'validated',
      by: 'quorum',
      agreeing: [0, 1],
    });
    expect(decideCopies([done(0, 6), done(1, 5)], adaptive, free)).toEqual({ state: 'add_copies', count: 1 });
    expect(decideCopies([done(0, 6), done(1, 5), done(2, 5)], adaptive, free)).toMatchObject({ winner: 1, dissenting: [0] });
    // A trusted host's result checked by a second copy is no longer a lone one: the quorum decides.
    expect(decideCopies([done(0, 6, true), done(1, 5)], adaptive, free)).toEqual({ state: 'add_copies', count: 1 });
  });
});

describe('spot checks', () => {
  it('due whatever the draw once ⌈2 / r⌉ − 1 results in a row were taken on trust; never at r = 0', () => {
    expect(spotCheckDue(18, 0.1)).toBe(false);
    expect(spotCheckDue(19, 0.1)).toBe(true);
    expect(spotCheckDue(6, 0.3)).toBe(true); // ⌈6.67⌉ = 7
    expect(spotCheckDue(5, 0.3)).toBe(false);
    expect(spotCheckDue(0, 1)).toBe(false);
    expect(spotCheckDue(1, 1)).toBe(true);
    expect(spotCheckDue(1_000_000, 0)).toBe(false);
  });
});

describe('validation records', () => {
  const settings = { trust_after: 3, quarantine_after: 3, quarantine_seconds: 60 };
  const now = new Date('2026-12-10T00:00:00Z');
  const apply = (record: ValidationRecord, outcomes: string) => {
    let r = record;
    const events: { quarantined: boolean; caught: boolean }[] = [];
    for (const c of outcomes) {
      const out = recordChecked(r, c === 'v', settings, now);
      r = out.record;
      events.push({ quarantined: out.quarantined, caught: out.caught });
    }
    return { record: r, events };
  };

  it('trust after N valid in a row; one invalid resets it and reports the trusted host caught', () => {
    const { record } = apply(NEW_VALIDATION_RECORD, 'vvv');
    expect(isTrusted(record, 3, now)).toBe(true);
    const after = recordChecked(record, false, settings, now);
    expect(after.caught).toBe(true);
    expect(after.record.validStreak).toBe(0);
    expect(isTrusted(after.record, 3, now)).toBe(false);
    expect(recordChecked(after.record, false, settings, now).caught).toBe(false);
  });

  it('moves reputation by the documented amounts: +0.2 × (1 − r) valid, −0.2 × r invalid', () => {
    expect(recordChecked(NEW_VALIDATION_RECORD, true, settings, now).record.reputation).toBeCloseTo(0.6, 12);
    expect(recordChecked(NEW_VALIDATION_RECORD, false, settings, now).record.reputation).toBeCloseTo(0.4, 12);
  });

  it('quarantines on the 3rd invalid of the last 10 checked, for quarantine_seconds, and starts it again clean', () => {
    const { record, events } = apply(NEW_VALIDATION_RECORD, 'xvvvvvvvx');
    expect(events.some((e) => e.quarantined)).toBe(false); // 2 invalid in the window
    const third = recordChecked(record, false, settings, now);
    expect(third.quarantined).toBe(true);
    expect(third.record.quarantinedUntil).toEqual(new Date(now.getTime() + 60_000));
    expect(third.record.quarantines).toBe(1);
    expect(third.record.recent).toBe('');
    expect(isQuarantined(third.record, now)).toBe(true);
    expect(isQuarantined(third.record, new Date(now.getTime() + 60_001))).toBe(false);
    // An always-wrong host: quarantined by its 3rd checked result.
    expect(apply(NEW_VALIDATION_RECORD, 'xxx').events.map((e) => e.quarantined)).toEqual([false, false, true]);
    // Invalid results that slid out of the window do not count.
    expect(apply(NEW_VALIDATION_RECORD, 'xxvvvvvvvvvx').events.some((e) => e.quarantined)).toBe(false);
  });

  it('probation: a host never validated, or with an invalid result in its window, until that one leaves it', () => {
    expect(takesProbation(undefined)).toBe(true);
    expect(takesProbation(NEW_VALIDATION_RECORD)).toBe(true);
    expect(takesProbation(apply(NEW_VALIDATION_RECORD, 'x').record)).toBe(true);
    expect(takesProbation(apply(NEW_VALIDATION_RECORD, 'v').record)).toBe(false);
    expect(takesProbation(apply(NEW_VALIDATION_RECORD, 'vx').record)).toBe(true);
    expect(takesProbation(apply(NEW_VALIDATION_RECORD, 'vxvvvvvvvv').record)).toBe(true);
    expect(takesProbation(apply(NEW_VALIDATION_RECORD, 'vxvvvvvvvvvv').record)).toBe(false);
  });
});

describe('copies on distinct hosts', () => {
  const agents = (hosts: (string | null)[]): Candidate[] =>
    hosts.map((host, i) => ({ id: `a${i}`, capabilities: [], open: 0, live: true, avgTaskSeconds: null, host }));
  const subtasks = [0, 1, 2, 3].map((seq) => ({ seq, payload: seq, requires: [] }));

  it('never puts two copies of a subtask on one host label, whatever the strategy', () => {
    const pool = agents(['m1', 'm1', 'm2', 'm2', null]);
    for (const strategy of ['round-robin', 'least-loaded', 'hybrid', 'centralized'] as const) {
      const plan = planAssignments(subtasks, pool, { strategy, cursor: 0, replication: 3, copies: 3 });
      for (const seq of [0, 1, 2, 3]) {
        const hosts = plan.assignments.filter((a) => a.seq === seq).map((a) => pool.find((p) => p.id === a.agentId)!.host ?? a.agentId);
        expect(hosts).toHaveLength(3);
        expect(new Set(hosts).size).toBe(3);
      }
    }
    // Decentralized: the first agent of each host.
    const all = planAssignments(subtasks.slice(0, 1), pool, { strategy: 'decentralized', cursor: 0, replication: 2 });
    expect(all.assignments.map((a) => a.agentId)).toEqual(['a0', 'a2', 'a4']);
    // Fewer hosts than copies: as many as there are hosts.
    expect(
      planAssignments(subtasks.slice(0, 1), agents(['m', 'm', 'm']), { strategy: 'hybrid', cursor: 0, replication: 3 }).assignments,
    ).toHaveLength(1);
  });

  it('a new copy avoids the hosts other copies run on', () => {
    const pool = agents(['m1', 'm1', 'm2']);
    expect(chooseAgent('round-robin', [], pool, { cursor: 0, exclude: ['a0'], avoid: [], excludeHosts: ['m1'] }).agentId).toBe('a2');
    expect(chooseAgent('round-robin', [], pool, { cursor: 0, exclude: ['a2'], avoid: [], excludeHosts: ['m1', 'm2'] }).agentId).toBeNull();
  });
});

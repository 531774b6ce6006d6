import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chooseSwarm,
  electLeader,
  MEMBER_PRIORITIES,
  MEMBER_STATUSES,
  type MemberCandidate,
  PRIORITY_WEIGHT,
  rankMembers,
  type SelectionCriteria,
  selectMembers,
} from '../src/index.ts';

const RUNS = { numRuns: 200 };

function member(memberId: string, overrides: Partial<MemberCandidate> = {}): MemberCandidate {
  return {
    memberId,
    swarmId: 's1',
    role: 'task-coordinator',
    capability: 'gpu',
    region: 'eu',
    priority: 'normal',
    status: 'active',
    reputation: 0.5,
    load: 0,
    ...overrides,
  };
}

const membersArb = fc
  .array(
    fc.record({
      swarmId: fc.constantFrom('s1', 's2', 's3'),
      role: fc.constantFrom('monitor', 'task-coordinator'),
      capability: fc.constantFrom('gpu', 'cpu'),
      region: fc.constantFrom('eu', 'us', null),
      priority: fc.constantFrom(...MEMBER_PRIORITIES),
      status: fc.constantFrom(...MEMBER_STATUSES),
      reputation: fc.constantFrom(0, 0.25, 0.5, 1),
      load: fc.nat(3),
    }),
    { maxLength: 12 },
  )
  .map((list): MemberCandidate[] => list.map((fields, i) => ({ memberId: `m${(i * 7) % 12}-${i}`, ...fields })));

const criteriaArb: fc.Arbitrary<SelectionCriteria> = fc.record({
  capability: fc.option(fc.constantFrom('gpu', 'cpu'), { nil: undefined }),
  region: fc.option(fc.constantFrom('eu', 'us'), { nil: undefined }),
  role: fc.option(fc.constantFrom('monitor', 'task-coordinator'), { nil: undefined }),
  collaborators: fc.integer({ min: 1, max: 6 }),
});

/** The eligibility rule stated independently of the implementation. */
function eligible(members: readonly MemberCandidate[], criteria: SelectionCriteria): MemberCandidate[] {
  return members.filter(
    (m) =>
      m.status === 'active' &&
      (criteria.capability === undefined || m.capability === criteria.capability) &&
      (criteria.region === undefined || m.region === criteria.region) &&
      (criteria.role === undefined || m.role === criteria.role),
  );
}

/** Whether a ranks no later than b. */
function ranksBefore(a: MemberCandidate, b: MemberCandidate): boolean {
  if (a.reputation !== b.reputation) return a.reputation > b.reputation;
  if (a.priority !== b.priority) return PRIORITY_WEIGHT[a.priority] > PRIORITY_WEIGHT[b.priority];
  if (a.load !== b.load) return a.load < b.load;
  return a.memberId <= b.memberId;
}

describe('rankMembers', () => {
  it('is a sorted permutation that leaves its input alone and ignores input order', () => {
    fc.assert(
      fc.property(
        membersArb.chain((members) => fc.tuple(fc.constant(members), fc.shuffledSubarray(members, { minLength: members.length }))),
        ([members, shuffled]) => {
          const before = structuredClone(members);
          const ranked = rankMembers(members);
          expect(members).toEqual(before);
          expect(ranked).not.toBe(members);
          expect([...ranked].sort((a, b) => (a.memberId < b.memberId ? -1 : 1))).toEqual(
            [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : 1)),
          );
          for (let i = 1; i < ranked.length; i++) expect(ranksBefore(ranked[i - 1]!, ranked[i]!)).toBe(true);
          expect(rankMembers(shuffled)).toEqual(ranked);
        },
      ),
      RUNS,
    );
  });

  it('orders by reputation, then priority, then load, then id', () => {
    const ranked = rankMembers([
      member('e', { reputation: 0.5, priority: 'high', load: 1 }),
      member('d', { reputation: 0.5, priority: 'high', load: 1 }),
      member('c', { reputation: 0.5, priority: 'high', load: 0 }),
      member('b', { reputation: 0.5, priority: 'low' }),
      member('a', { reputation: 0.9, priority: 'low', load: 5 }),
    ]);
    expect(ranked.map((m) => m.memberId)).toEqual(['a', 'c', 'd', 'e', 'b']);
  });
});

describe('selectMembers', () => {
  it('takes the best-ranked eligible members, or fails iff too few are eligible', () => {
    fc.assert(
      fc.property(membersArb, criteriaArb, (members, criteria) => {
        const expected = eligible(members, criteria);
        const result = selectMembers(members, criteria);
        if (expected.length < criteria.collaborators) {
          expect(result).toEqual({ ok: false, eligible: expected.length, reason: expect.any(String) });
        } else {
          expect(result).toEqual({ ok: true, members: rankMembers(expected).slice(0, criteria.collaborators) });
        }
      }),
      RUNS,
    );
  });

  it('names the filters and the unhealthy members in its reason', () => {
    const members = [
      member('a'),
      member('b'),
      member('c'),
      member('d', { status: 'suspect' }),
      member('e', { status: 'failed' }),
      member('f', { status: 'left' }),
      member('g', { region: 'us' }),
      member('h', { capability: 'cpu' }),
    ];
    expect(selectMembers(members, { capability: 'gpu', region: 'eu', collaborators: 5 })).toEqual({
      ok: false,
      eligible: 3,
      reason: 'needs 5 active members with capability gpu in region eu; 3 are eligible (2 more are suspect or failed)',
    });
    expect(selectMembers(members, { role: 'monitor', collaborators: 1 })).toEqual({
      ok: false,
      eligible: 0,
      reason: 'needs 1 active member with role monitor; 0 are eligible',
    });
    expect(selectMembers([member('a')], { capability: 'gpu', role: 'task-coordinator', collaborators: 2 })).toEqual({
      ok: false,
      eligible: 1,
      reason: 'needs 2 active members with capability gpu and role task-coordinator; 1 is eligible',
    });
  });

  it('selects by rank', () => {
    const members = [
      member('a', { reputation: 0.2 }),
      member('b', { reputation: 0.9 }),
      member('c', { reputation: 0.6, status: 'suspect' }),
      member('d'),
    ];
    const result = selectMembers(members, { collaborators: 2 });
    expect(result.ok && result.members.map((m) => m.memberId)).toEqual(['b', 'd']);
  });
});

describe('chooseSwarm', () => {
  it('picks the swarm with the most eligible members, null when none is eligible', () => {
    fc.assert(
      fc.property(membersArb, criteriaArb, (members, criteria) => {
        const chosen = chooseSwarm(members, criteria);
        const pool = eligible(members, criteria);
        if (pool.length === 0) {
          expect(chosen).toBeNull();
          return;
        }
        const count = (swarmId: string | null) => pool.filter((m) => m.swarmId === swarmId).length;
        for (const m of pool) expect(count(chosen)).toBeGreaterThanOrEqual(count(m.swarmId));
      }),
      RUNS,
    );
  });

  it('breaks ties by reputation, then swarm id', () => {
    const members = [
      member('a', { swarmId: 's2', reputation: 0.9 }),
      member('b', { swarmId: 's1', reputation: 0.5 }),
      member('c', { swarmId: 's3', reputation: 0.9 }),
      member('d', { swarmId: 's3', reputation: 0.9, status: 'failed' }),
    ];
    expect(chooseSwarm(members, { collaborators: 1 })).toBe('s2');
    expect(chooseSwarm([...members, member('e', { swarmId: 's1' })], { collaborators: 1 })).toBe('s1');
    expect(chooseSwarm(members, { capability: 'tpu', collaborators: 1 })).toBeNull();
  });
});

describe('electLeader', () => {
  it('elects the active, not excluded member with the highest reputation, ties by id only', () => {
    const members = [
      member('c', { reputation: 0.8, priority: 'high' }),
      member('b', { reputation: 0.8, priority: 'low', load: 9 }),
      member('a', { reputation: 0.95, status: 'suspect' }),
      member('d', { reputation: 0.9 }),
    ];
    expect(electLeader(members, [])?.memberId).toBe('d');
    expect(electLeader(members, ['d'])?.memberId).toBe('b');
    expect(electLeader(members, ['d', 'b', 'c'])).toBeNull();
    expect(electLeader([], [])).toBeNull();
  });

  it('never depends on the order of the candidates', () => {
    fc.assert(
      fc.property(
        membersArb.chain((members) => fc.tuple(fc.constant(members), fc.shuffledSubarray(members, { minLength: members.length }))),
        ([members, shuffled]) => {
          const leader = electLeader(members, []);
          expect(electLeader(shuffled, [])).toEqual(leader);
          if (leader !== null) expect(leader.status).toBe('active');
        },
      ),
      RUNS,
    );
  });
});

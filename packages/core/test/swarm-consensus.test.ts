import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONSENSUS_ALGORITHMS,
  type ConsensusAlgorithm,
  type ConsensusOptions,
  decideConsensus,
  MEMBER_PRIORITIES,
  type MemberPriority,
  tallyVotes,
  type Vote,
  voteWeight,
} from '../src/index.ts';

const RUNS = { numRuns: 300 };

function vote(memberId: string, resultKey: string, reputation = 0.5, priority: MemberPriority = 'normal'): Vote {
  return { memberId, resultKey, preview: `result ${resultKey}`, reputation, priority };
}

/** Votes from members m1, m2, … for the given keys in order. */
function votes(...keys: string[]): Vote[] {
  return keys.map((key, i) => vote(`m${i + 1}`, key));
}

function options(algorithm: ConsensusAlgorithm, expectedVoters: number, final: boolean, threshold = 0.7): ConsensusOptions {
  return { algorithm, expectedVoters, final, threshold };
}

const algorithmArb = fc.constantFrom(...CONSENSUS_ALGORITHMS);

/** Votes from a few members (so some share a memberId) for a few results. */
const votesArb = (reputation: fc.Arbitrary<number> = fc.double({ min: 0, max: 1, noNaN: true }), keys = ['a', 'b', 'c']) =>
  fc.array(
    fc.record({
      memberId: fc.constantFrom('m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'),
      resultKey: fc.constantFrom(...keys),
      preview: fc.string({ maxLength: 3 }),
      reputation,
      priority: fc.constantFrom(...MEMBER_PRIORITIES),
    }),
    { maxLength: 10 },
  );

const optionsArb: fc.Arbitrary<ConsensusOptions> = fc.record({
  algorithm: algorithmArb,
  threshold: fc.double({ min: Number.MIN_VALUE, max: 1, noNaN: true }),
  expectedVoters: fc.nat(10),
  final: fc.boolean(),
  maxOutstandingWeight: fc.option(fc.double({ min: 0, max: 3, noNaN: true }), { nil: undefined }),
});

function distinctMembers(list: readonly Vote[]): string[] {
  return [...new Set(list.map((v) => v.memberId))].sort();
}

describe('decideConsensus: properties', () => {
  it('confidence is in [0, 1] or null for every algorithm and any input; a final decision is never pending', () => {
    fc.assert(
      fc.property(votesArb(fc.double({ noNaN: true })), optionsArb, (list, opts) => {
        const decision = decideConsensus(list, opts);
        if (decision.confidence !== null) {
          expect(decision.confidence).toBeGreaterThanOrEqual(0);
          expect(decision.confidence).toBeLessThanOrEqual(1);
        }
        if (opts.final) expect(decision.state).not.toBe('pending');
      }),
      RUNS,
    );
  });

  it('a reached decision names the top tally and splits every voter into agreeing and dissenting', () => {
    fc.assert(
      fc.property(votesArb(), optionsArb, (list, opts) => {
        const decision = decideConsensus(list, opts);
        if (decision.state !== 'reached') return;
        const top = decision.tallies[0]!;
        expect(decision.winner).toBe(top.resultKey);
        expect(decision.agreeing).toEqual(top.members);
        expect([...decision.dissenting].sort()).toEqual(decision.dissenting);
        expect([...decision.agreeing, ...decision.dissenting].sort()).toEqual(distinctMembers(list));
        expect(decision.tallies[1]?.weight ?? -1).toBeLessThan(top.weight);
      }),
      RUNS,
    );
  });

  it('a unanimous input always reaches consensus under every algorithm', () => {
    fc.assert(
      fc.property(
        algorithmArb,
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }),
        fc.string({ maxLength: 4 }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.constantFrom(...MEMBER_PRIORITIES),
        fc.double({ min: Number.MIN_VALUE, max: 1, noNaN: true }),
        fc.boolean(),
        (algorithm, members, key, reputation, priority, threshold, final) => {
          const list = members.map((memberId) => vote(memberId, key, reputation, priority));
          const decision = decideConsensus(list, { algorithm, threshold, expectedVoters: members.length, final });
          expect(decision).toMatchObject({ state: 'reached', winner: key, confidence: 1, dissenting: [] });
        },
      ),
      RUNS,
    );
  });

  it('permuting the votes never changes the decision', () => {
    fc.assert(
      fc.property(
        votesArb().chain((list) => fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length }))),
        optionsArb,
        ([list, shuffled], opts) => {
          expect(decideConsensus(shuffled, opts)).toEqual(decideConsensus(list, opts));
        },
      ),
      RUNS,
    );
  });

  it('threshold is monotone: reached at t means reached at every lower t, not reached means not at any higher t', () => {
    fc.assert(
      fc.property(
        votesArb(),
        fc.nat(10),
        fc.double({ min: Number.MIN_VALUE, max: 1, noNaN: true }),
        fc.double({ min: Number.MIN_VALUE, max: 1, noNaN: true }),
        (list, expectedVoters, t1, t2) => {
          const [low, high] = t1 <= t2 ? [t1, t2] : [t2, t1];
          const at = (threshold: number) => decideConsensus(list, { algorithm: 'threshold', threshold, expectedVoters, final: true }).state;
          if (at(high) === 'reached') expect(at(low)).toBe('reached');
          if (at(low) !== 'reached') expect(at(high)).not.toBe('reached');
        },
      ),
      RUNS,
    );
  });

  it('an early decision holds however the outstanding members vote', () => {
    // mostly agreeing votes, a few outstanding, so that early decisions are common
    const mostlyA = votesArb(fc.double({ min: 0, max: 1, noNaN: true }), ['a', 'a', 'a', 'b']);
    let early = 0;
    fc.assert(
      fc.property(mostlyA, fc.integer({ min: 1, max: 4 }), optionsArb, votesArb(), (list, missing, opts, later) => {
        const voted = distinctMembers(list).length;
        const expectedVoters = voted + missing;
        const decision = decideConsensus(list, { ...opts, expectedVoters, final: false });
        if (decision.state !== 'reached') return;
        early++;
        // the outstanding members, with new ids, each with a vote no heavier than assumed
        const limit = opts.maxOutstandingWeight ?? 2;
        const outstanding = distinctMembers(later)
          .slice(0, missing)
          .map((id) => ({ ...later.find((v) => v.memberId === id)!, memberId: `late-${id}` }))
          .filter((v) => voteWeight(v, opts.algorithm) <= limit);
        const final = decideConsensus([...list, ...outstanding], { ...opts, expectedVoters, final: true });
        expect(final).toMatchObject({ state: 'reached', winner: decision.winner });
      }),
      RUNS,
    );
    expect(early).toBeGreaterThan(0);
  });
});

describe('voteWeight and tallyVotes', () => {
  it('weighs reputation × priority under weighted, 1 otherwise', () => {
    const v = vote('m1', 'a', 0.8, 'high');
    expect(voteWeight(v, 'weighted')).toBeCloseTo(1.6);
    expect(voteWeight({ ...v, priority: 'low' }, 'weighted')).toBeCloseTo(0.4);
    expect(voteWeight({ ...v, reputation: 0 }, 'weighted')).toBe(0);
    for (const algorithm of ['majority-vote', 'threshold', 'unanimous'] as const) expect(voteWeight(v, algorithm)).toBe(1);
  });

  it('groups by result, heaviest first, members sorted, preview of the lowest member id', () => {
    const list = [{ ...vote('m3', 'b'), preview: 'third' }, { ...vote('m2', 'b'), preview: 'second' }, vote('m1', 'a'), vote('m4', 'c')];
    expect(tallyVotes(list, 'majority-vote')).toEqual([
      { resultKey: 'b', preview: 'second', count: 2, weight: 2, members: ['m2', 'm3'] },
      { resultKey: 'a', preview: 'result a', count: 1, weight: 1, members: ['m1'] },
      { resultKey: 'c', preview: 'result c', count: 1, weight: 1, members: ['m4'] },
    ]);
  });

  it("counts a member's vote once: the one whose resultKey sorts first", () => {
    const tallies = tallyVotes([vote('m1', 'b'), vote('m1', 'a'), vote('m2', 'b')], 'majority-vote');
    expect(tallies.map((t) => [t.resultKey, t.members])).toEqual([
      ['a', ['m1']],
      ['b', ['m2']],
    ]);
  });
});

describe('decideConsensus: examples', () => {
  it('4 of 5 agreeing under majority-vote is reached with confidence 0.8', () => {
    const decision = decideConsensus(votes('a', 'a', 'b', 'a', 'a'), options('majority-vote', 5, false));
    expect(decision).toMatchObject({
      state: 'reached',
      winner: 'a',
      confidence: 0.8,
      agreeing: ['m1', 'm2', 'm4', 'm5'],
      dissenting: ['m3'],
    });
  });

  it('under weighted one reputable high-priority member outweighs two low ones', () => {
    const list = [vote('m1', 'a', 1, 'high'), vote('m2', 'b', 0.5, 'low'), vote('m3', 'b', 0.5, 'low')];
    expect(decideConsensus(list, options('weighted', 3, true))).toMatchObject({
      state: 'reached',
      winner: 'a',
      confidence: 0.8,
      dissenting: ['m2', 'm3'],
    });
    expect(decideConsensus(list, options('majority-vote', 3, true))).toMatchObject({ state: 'reached', winner: 'b' });
  });

  it('threshold 0.7 with 3 of 5 agreeing fails when final, and is reached at 0.6', () => {
    const list = votes('a', 'a', 'a', 'b', 'c');
    expect(decideConsensus(list, options('threshold', 5, true, 0.7))).toEqual({
      state: 'failed',
      reason: 'threshold not met: the leading result has 3 of 5 votes (3 distinct results from 5 members), 70% needed',
      confidence: 0.6,
      tallies: tallyVotes(list, 'threshold'),
    });
    expect(decideConsensus(list, options('threshold', 5, true, 0.6))).toMatchObject({ state: 'reached', winner: 'a' });
  });

  it('decides early only when the outstanding votes cannot change the outcome', () => {
    // 3 of 5 agree: even if the 2 others dissent, 3 of 5 is a majority
    expect(decideConsensus(votes('a', 'a', 'a'), options('majority-vote', 5, false))).toMatchObject({
      state: 'reached',
      winner: 'a',
      confidence: 1,
    });
    // 2 of 3 agree: the last vote can only make it 2 to 1
    expect(decideConsensus(votes('a', 'a'), options('majority-vote', 3, false))).toMatchObject({
      state: 'reached',
      winner: 'a',
      confidence: 1,
    });
    // 2 of 3 disagree: the last vote decides
    expect(decideConsensus(votes('a', 'b'), options('majority-vote', 3, false)).state).toBe('pending');
    // 2 to 1 of 5: two more for b would win
    expect(decideConsensus(votes('a', 'a', 'b'), options('majority-vote', 5, false)).state).toBe('pending');
    // ... but at the deadline 2 of 3 is a majority of the votes cast
    expect(decideConsensus(votes('a', 'a', 'b'), options('majority-vote', 5, true))).toMatchObject({
      state: 'reached',
      winner: 'a',
      confidence: 2 / 3,
    });
    // 3 of 5 at 0.5 threshold: 3 / 5 >= 0.5 whatever comes
    expect(decideConsensus(votes('a', 'a', 'a'), options('threshold', 5, false, 0.5)).state).toBe('reached');
    expect(decideConsensus(votes('a', 'a', 'a'), options('threshold', 5, false, 0.7)).state).toBe('pending');
  });

  it('decides weighted votes early against the heaviest possible outstanding votes', () => {
    const strong = [vote('m1', 'a', 1, 'high'), vote('m2', 'a', 1, 'high'), vote('m3', 'a', 1, 'high')];
    // 6 against at most 2 × 2
    expect(decideConsensus(strong, options('weighted', 5, false)).state).toBe('reached');
    const modest = [vote('m1', 'a'), vote('m2', 'a'), vote('m3', 'a')];
    // 1.5 against at most 4
    expect(decideConsensus(modest, options('weighted', 5, false)).state).toBe('pending');
    // 1.5 against at most 2 × 0.5
    expect(decideConsensus(modest, { ...options('weighted', 5, false), maxOutstandingWeight: 0.5 }).state).toBe('reached');
  });

  it('needs a quorum of more than half the expected voters', () => {
    expect(decideConsensus(votes('a', 'a'), options('majority-vote', 4, false)).state).toBe('pending');
    expect(decideConsensus(votes('a', 'a'), options('majority-vote', 5, true))).toMatchObject({
      state: 'failed',
      reason: 'no quorum: 2 of 5 members voted',
      confidence: 1,
    });
    expect(decideConsensus([], options('weighted', 3, true))).toMatchObject({
      state: 'failed',
      reason: 'no quorum: 0 of 3 members voted',
      confidence: null,
    });
  });

  it('never counts a tie as a win', () => {
    expect(decideConsensus(votes('a', 'b', 'a', 'b'), options('majority-vote', 4, true))).toMatchObject({
      state: 'failed',
      reason: 'no majority: 2 results tie for first with 2 of 4 votes each (2 distinct results from 4 members)',
      confidence: 0.5,
    });
    expect(decideConsensus(votes('a', 'b'), options('threshold', 2, true, 0.5)).state).toBe('failed');
    const weightedTie = [vote('m1', 'a', 1, 'low'), vote('m2', 'b', 0.25, 'normal'), vote('m3', 'b', 0.5, 'low')];
    expect(decideConsensus(weightedTie, options('weighted', 3, true))).toMatchObject({
      state: 'failed',
      reason: 'no majority: 2 results tie for first with 50% of the vote weight each (2 distinct results from 3 members)',
    });
  });

  it('gives no confidence when every vote weighs 0', () => {
    const list = [vote('m1', 'a', 0), vote('m2', 'a', 0)];
    expect(decideConsensus(list, options('weighted', 2, true))).toMatchObject({ state: 'failed', confidence: null });
  });

  it('unanimous needs every expected vote and fails at the first disagreement', () => {
    expect(decideConsensus(votes('a', 'a', 'a'), options('unanimous', 3, false))).toMatchObject({
      state: 'reached',
      winner: 'a',
      confidence: 1,
      agreeing: ['m1', 'm2', 'm3'],
      dissenting: [],
    });
    expect(decideConsensus(votes('a', 'a'), options('unanimous', 3, false)).state).toBe('pending');
    expect(decideConsensus(votes('a', 'a'), options('unanimous', 3, true))).toMatchObject({
      state: 'failed',
      reason: 'not unanimous: only 2 of 3 members voted',
    });
    expect(decideConsensus(votes('a', 'b'), options('unanimous', 5, false))).toMatchObject({
      state: 'failed',
      reason: 'not unanimous: 2 distinct results from 2 members',
      confidence: 0.5,
    });
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ConsensusDecision, decideConsensus, REPUTATION, reputationChanges, updateReputation, type Vote } from '../src/index.ts';

const RUNS = { numRuns: 300 };
const unit = fc.double({ min: 0, max: 1, noNaN: true });

describe('updateReputation', () => {
  it('stays in [0, 1]; agreeing never lowers it, dissenting never raises it', () => {
    fc.assert(
      fc.property(unit, fc.boolean(), unit, (current, agreed, rate) => {
        const next = updateReputation(current, agreed, rate);
        expect(next).toBeGreaterThanOrEqual(0);
        expect(next).toBeLessThanOrEqual(1);
        if (agreed) expect(next).toBeGreaterThanOrEqual(current);
        else expect(next).toBeLessThanOrEqual(current);
      }),
      RUNS,
    );
  });

  it('stays in [0, 1] even for values outside it', () => {
    fc.assert(
      fc.property(fc.double(), fc.boolean(), fc.double(), (current, agreed, rate) => {
        const next = updateReputation(current, agreed, rate);
        expect(next).toBeGreaterThanOrEqual(0);
        expect(next).toBeLessThanOrEqual(1);
      }),
      RUNS,
    );
  });

  it('converges toward 1 with repeated agreement (and toward 0 with repeated dissent)', () => {
    fc.assert(
      fc.property(unit, (start) => {
        let up = start;
        let down = start;
        for (let i = 0; i < 50; i++) {
          up = updateReputation(up, true);
          down = updateReputation(down, false);
        }
        expect(up).toBeGreaterThan(0.9999);
        expect(down).toBeLessThan(0.0001);
      }),
      RUNS,
    );
  });

  it('moves a fifth of the way by default', () => {
    expect(REPUTATION).toEqual({ initial: 0.5, rate: 0.2 });
    expect(updateReputation(0.5, true)).toBeCloseTo(0.6);
    expect(updateReputation(0.5, false)).toBeCloseTo(0.4);
    expect(updateReputation(1, true)).toBe(1);
    expect(updateReputation(0.5, true, 1)).toBe(1);
  });
});

describe('reputationChanges', () => {
  it('raises the agreeing members, lowers the dissenting ones, new members start at the initial reputation', () => {
    const votes: Vote[] = ['a', 'a', 'b'].map((resultKey, i) => ({
      memberId: `m${i + 1}`,
      resultKey,
      preview: resultKey,
      reputation: 0.5,
      priority: 'normal',
    }));
    const decision = decideConsensus(votes, { algorithm: 'majority-vote', threshold: 0.7, expectedVoters: 3, final: true });
    expect(decision.state).toBe('reached');
    const changes = reputationChanges(
      decision as Extract<ConsensusDecision, { state: 'reached' }>,
      new Map([
        ['m1', 0.9],
        ['m3', 1],
        ['other', 0.3],
      ]),
    );
    expect([...changes.keys()].sort()).toEqual(['m1', 'm2', 'm3']);
    expect(changes.get('m1')).toBeCloseTo(0.92);
    expect(changes.get('m2')).toBeCloseTo(0.6);
    expect(changes.get('m3')).toBeCloseTo(0.8);
  });
});

// Core-only micro-benchmarks (`pnpm bench` runs them with vitest bench):
// consensus over 1,000 votes and member selection over 10,000 members.
import { bench, describe } from 'vitest';
import { decideConsensus, type MemberCandidate, rankMembers, selectMembers, type Vote } from '../src/index.ts';

/** A deterministic pseudo-random sequence, so every run measures the same input. */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

const random = lcg(42);
const PRIORITIES = ['low', 'normal', 'high'] as const;
const votes: Vote[] = Array.from({ length: 1000 }, (_, i) => {
  const answer = random() < 0.7 ? 'a' : random() < 0.5 ? 'b' : 'c';
  return {
    memberId: `member_${i.toString().padStart(4, '0')}`,
    resultKey: answer,
    preview: answer,
    reputation: random(),
    priority: PRIORITIES[i % 3]!,
  };
});
const members: MemberCandidate[] = Array.from({ length: 10_000 }, (_, i) => ({
  memberId: `member_${i.toString().padStart(5, '0')}`,
  swarmId: 'swarm_bench',
  role: i % 4 === 0 ? 'task-coordinator' : 'monitor',
  capability: i % 2 === 0 ? 'gpu' : 'cpu',
  region: i % 3 === 0 ? 'eu' : 'us',
  priority: PRIORITIES[i % 3]!,
  status: i % 10 === 0 ? 'suspect' : 'active',
  reputation: random(),
  load: Math.floor(random() * 8),
}));

describe('consensus over 1,000 votes', () => {
  for (const algorithm of ['majority-vote', 'weighted', 'threshold', 'unanimous'] as const) {
    bench(algorithm, () => {
      decideConsensus(votes, { algorithm, threshold: 0.7, expectedVoters: 1000, final: true });
    });
  }
});

describe('selection over 10,000 members', () => {
  bench('select 5 gpu members in eu', () => {
    selectMembers(members, { capability: 'gpu', region: 'eu', collaborators: 5 });
  });
  bench('rank all 10,000', () => {
    rankMembers(members);
  });
});

// The role, status, priority and algorithm lists and types in model.ts are
// the same as those `schemas/swarm.ts` exports (with their Zod schemas), so
// only model.ts's own types are re-exported here: two `export *` of one name
// from the package index would make it ambiguous.
export type {
  ConsensusDecision,
  ConsensusOptions,
  MemberCandidate,
  SelectionCriteria,
  SelectionResult,
  Vote,
  VoteTally,
} from './model.ts';
export * from './selection.ts';
export * from './consensus.ts';
export * from './reputation.ts';
export * from './metrics.ts';
export * from './plans.ts';
export * from './progress.ts';

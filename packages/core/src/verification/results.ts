/**
 * Only validated results count (README "Verification"): an execution's (or
 * a map-reduce task's) results under a policy. A subtask no quorum agreed on
 * is inconclusive: null in its place among the subtask results, listed in
 * `inconclusive`, and left out of the reduce.
 */
import { executionResults } from '../network/reduce.ts';
import type { ExecutionResults, Reducer } from '../schemas/network.ts';

export interface DecidedSubtask {
  seq: number;
  /** false: inconclusive. */
  validated: boolean;
  result: unknown;
}

export function verifiedResults(subtasks: readonly DecidedSubtask[], reducer: Reducer | null): ExecutionResults {
  const ordered = [...subtasks].sort((a, b) => a.seq - b.seq);
  const counted = executionResults(
    ordered.filter((s) => s.validated).map((s) => s.result),
    reducer,
  );
  const inconclusive = ordered.filter((s) => !s.validated).map((s) => s.seq);
  return {
    ...counted,
    subtask_results: ordered.map((s) => (s.validated ? s.result : null)),
    ...(inconclusive.length > 0 ? { inconclusive } : {}),
  };
}

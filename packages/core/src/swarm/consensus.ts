/**
 * How the votes of a coordination's members become a decision. Votes agree
 * when they have the same `resultKey`.
 *
 * Weights and totals:
 * - A vote weighs 1, except under `weighted`, where it weighs
 *   reputation × PRIORITY_WEIGHT[priority] (reputation clamped to [0, 1],
 *   so a member with reputation 0 weighs 0).
 * - Each member counts once: if several votes share a memberId, only the
 *   one whose resultKey sorts first counts (the server never sends
 *   duplicates; this only keeps the outcome independent of vote order).
 * - Tallies: one per resultKey, heaviest first, then most votes, then
 *   resultKey ascending. Their preview is that of the vote with the lowest
 *   memberId. The outcome never depends on the order of the votes.
 * - W is the total weight of the votes cast, `top` the first tally and
 *   share = top.weight / W. The confidence is that share, or null when W
 *   is 0 (no votes, or all weigh 0); it is always in [0, 1] or null.
 * - A tie for first place (the second tally weighs as much as the top) is
 *   never a win.
 *
 * Deciding (n = members who voted, E = expectedVoters, outstanding = E − n):
 * - Quorum (every algorithm but `unanimous`): a decision needs more than
 *   half of the expected voters, n × 2 > E. Without it the decision is
 *   pending, or failed ("no quorum") when final.
 * - `majority-vote` and `weighted`: reached when share > 0.5 and no tie.
 * - `threshold`: reached when share >= options.threshold and no tie.
 * - Before every vote is in (not final, outstanding > 0) these three decide
 *   only when the outcome can no longer change: the top still wins if all
 *   outstanding votes went to the runner-up, i.e. with their weight added
 *   to W and to the second tally. An outstanding vote weighs 1, or under
 *   `weighted` at most `maxOutstandingWeight` (default 2: reputation 1 ×
 *   the high priority weight). Otherwise the decision stays pending; a
 *   failure is declared only when final or when every vote is in.
 * - `unanimous`: reached when all E members voted and all votes have the
 *   same resultKey (confidence 1). Failed as soon as two distinct results
 *   exist, even before final; failed when final with votes missing;
 *   otherwise pending.
 * - Reached: the winner is the top resultKey, `agreeing` its members and
 *   `dissenting` the members of every other tally, sorted ascending.
 */
import type { ConsensusAlgorithm, ConsensusDecision, ConsensusOptions, Vote, VoteTally } from './model.ts';
import { PRIORITY_WEIGHT } from './selection.ts';

/** The most an outstanding `weighted` vote can weigh unless options say otherwise: reputation 1 at high priority. */
const DEFAULT_MAX_OUTSTANDING_WEIGHT = 1 * PRIORITY_WEIGHT.high;

/** 1, or under `weighted` reputation (clamped to [0, 1]) × the priority weight. */
export function voteWeight(vote: Vote, algorithm: ConsensusAlgorithm): number {
  if (algorithm !== 'weighted') return 1;
  return clampUnit(vote.reputation) * PRIORITY_WEIGHT[vote.priority];
}

/** One tally per distinct result, in the order described in the file header. */
export function tallyVotes(votes: Vote[], algorithm: ConsensusAlgorithm): VoteTally[] {
  const byKey = new Map<string, VoteTally>();
  for (const vote of countedVotes(votes)) {
    const weight = voteWeight(vote, algorithm);
    const tally = byKey.get(vote.resultKey);
    if (tally === undefined) {
      byKey.set(vote.resultKey, { resultKey: vote.resultKey, preview: vote.preview, count: 1, weight, members: [vote.memberId] });
    } else {
      tally.count += 1;
      tally.weight += weight;
      tally.members.push(vote.memberId);
    }
  }
  return [...byKey.values()].sort((a, b) => b.weight - a.weight || b.count - a.count || compareStrings(a.resultKey, b.resultKey));
}

/** The state of a coordination's consensus given the votes so far (see the file header). */
export function decideConsensus(votes: Vote[], options: ConsensusOptions): ConsensusDecision {
  const { algorithm, expectedVoters: expected, final } = options;
  const tallies = tallyVotes(votes, algorithm);
  const voted = tallies.reduce((sum, tally) => sum + tally.count, 0);
  const total = tallies.reduce((sum, tally) => sum + tally.weight, 0);
  const top = tallies[0];
  const confidence = top !== undefined && total > 0 ? clampUnit(top.weight / total) : null;
  const outstanding = Math.max(0, expected - voted);
  const pending: ConsensusDecision = { state: 'pending', tallies, confidence };
  const failed = (reason: string): ConsensusDecision => ({ state: 'failed', reason, confidence, tallies });

  if (algorithm === 'unanimous') {
    if (tallies.length > 1) return failed(`not unanimous: ${tallies.length} distinct results from ${voted} members`);
    if (top === undefined || outstanding > 0) return final ? failed(`not unanimous: only ${voted} of ${expected} members voted`) : pending;
    return reached(top, tallies, 1);
  }

  if (top === undefined || voted * 2 <= expected) return final ? failed(`no quorum: ${voted} of ${expected} members voted`) : pending;

  const maxPerVote = algorithm === 'weighted' ? Math.max(0, options.maxOutstandingWeight ?? DEFAULT_MAX_OUTSTANDING_WEIGHT) : 1;
  /** Whether the top wins with `extra` weight added to W and to the runner-up. */
  const wins = (extra: number): boolean => {
    const runnerUp = tallies[1]?.weight ?? 0;
    if (!(top.weight > runnerUp + extra)) return false;
    const share = top.weight / (total + extra);
    return algorithm === 'threshold' ? share >= options.threshold : share > 0.5;
  };

  if (final || outstanding === 0) {
    if (wins(0)) return reached(top, tallies, confidence ?? 0);
    const standing = standingOf(tallies, voted, total, algorithm === 'weighted');
    return failed(
      algorithm === 'threshold' ? `threshold not met: ${standing}, ${percent(options.threshold, 1)} needed` : `no majority: ${standing}`,
    );
  }
  return wins(outstanding * maxPerVote) ? reached(top, tallies, confidence ?? 0) : pending;
}

function reached(top: VoteTally, tallies: VoteTally[], confidence: number): ConsensusDecision {
  const dissenting = tallies
    .slice(1)
    .flatMap((tally) => tally.members)
    .sort(compareStrings);
  return { state: 'reached', winner: top.resultKey, confidence, tallies, agreeing: [...top.members], dissenting };
}

/**
 * One vote per member, in memberId order: of a member's votes the one whose
 * resultKey sorts first (then preview, then lower reputation, then lower
 * priority, so that even odd duplicates give one answer).
 */
function countedVotes(votes: readonly Vote[]): Vote[] {
  const sorted = [...votes].sort(
    (a, b) =>
      compareStrings(a.memberId, b.memberId) ||
      compareStrings(a.resultKey, b.resultKey) ||
      compareStrings(a.preview, b.preview) ||
      a.reputation - b.reputation ||
      PRIORITY_WEIGHT[a.priority] - PRIORITY_WEIGHT[b.priority],
  );
  return sorted.filter((vote, i) => i === 0 || sorted[i - 1]!.memberId !== vote.memberId);
}

/** E.g. "the leading result has 2 of 4 votes (3 distinct results from 4 members)". */
function standingOf(tallies: readonly VoteTally[], voted: number, total: number, weighted: boolean): string {
  const top = tallies[0]!;
  const tied = tallies.filter((tally) => tally.weight === top.weight).length;
  const portion = weighted ? `${percent(top.weight, total)} of the vote weight` : `${top.count} of ${voted} votes`;
  const lead = tied > 1 ? `${tied} results tie for first with ${portion} each` : `the leading result has ${portion}`;
  return `${lead} (${tallies.length} distinct results from ${voted} members)`;
}

/** `part / whole` as a percentage with at most one decimal; 0% for an empty whole. */
function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((part / whole) * 1000) / 10}%` : '0%';
}

/** Into [0, 1]; NaN becomes 0. */
function clampUnit(value: number): number {
  return value > 0 ? Math.min(1, value) : 0;
}

/** Code-unit order, independent of locale. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The value votes are compared by: the whole result, or the field at `compare` (a path like `answer` or `a.b.0`). */
export function comparedValue(result: unknown, compare: string | undefined): unknown {
  if (!compare) return result;
  let value: unknown = result;
  for (const key of compare.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** How long a vote's preview (its compared value's canonical JSON) may be before it is cut with an ellipsis. */
export const VOTE_PREVIEW_LENGTH = 200;

/** A vote's preview: the canonical JSON of what it compares, cut to VOTE_PREVIEW_LENGTH. */
export function votePreview(canonical: string): string {
  return canonical.length > VOTE_PREVIEW_LENGTH ? `${canonical.slice(0, VOTE_PREVIEW_LENGTH - 1)}…` : canonical;
}

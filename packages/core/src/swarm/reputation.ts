/**
 * A member's reputation: how often its results agreed with the decided
 * consensus, as a bounded exponential moving average in [0, 1].
 *
 * - A new member starts at `REPUTATION.initial` (0.5: no evidence either way).
 * - After each reached decision it moves a fraction `rate` of the way
 *   towards 1 if the member agreed with the winner, towards 0 if it
 *   dissented: r' = r + rate × ((agreed ? 1 : 0) − r). With rate 0.2 the
 *   latest outcome counts for a fifth and older ones fade geometrically.
 * - Inputs are clamped to [0, 1] first, so the result is always in [0, 1];
 *   agreeing never lowers a reputation and dissenting never raises it.
 * - Members who did not vote, and decisions that were not reached, change
 *   nothing.
 */
import type { ConsensusDecision } from './model.ts';

/** `initial`: a new member's reputation; `rate`: the weight of the latest outcome in the moving average. */
export const REPUTATION = { initial: 0.5, rate: 0.2 } as const;

/** The reputation after one more outcome: r + rate × ((agreed ? 1 : 0) − r), in [0, 1]. */
export function updateReputation(current: number, agreed: boolean, rate: number = REPUTATION.rate): number {
  const r = clampUnit(current);
  return clampUnit(r + clampUnit(rate) * ((agreed ? 1 : 0) - r));
}

/**
 * The new reputation of every agreeing and dissenting member of a reached
 * decision; members absent from `current` start at `REPUTATION.initial`.
 */
export function reputationChanges(
  decision: Extract<ConsensusDecision, { state: 'reached' }>,
  current: Map<string, number>,
): Map<string, number> {
  const changes = new Map<string, number>();
  const apply = (memberId: string, agreed: boolean) =>
    changes.set(memberId, updateReputation(current.get(memberId) ?? REPUTATION.initial, agreed));
  for (const memberId of decision.agreeing) apply(memberId, true);
  for (const memberId of decision.dissenting) apply(memberId, false);
  return changes;
}

/** Into [0, 1]; NaN becomes 0. */
function clampUnit(value: number): number {
  return value > 0 ? Math.min(1, value) : 0;
}

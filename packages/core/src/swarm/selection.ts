/**
 * Which swarm members take part in a coordination, which swarm to use, and
 * who leads.
 *
 * - Eligible: a member whose status is `active` and that matches every
 *   criterion given (`capability`, `region`, `role` each compared for
 *   equality; an absent criterion does not filter). `suspect`, `failed`
 *   and `left` members are never eligible.
 * - Ranking (best first): higher reputation, then higher priority
 *   (high > normal > low), then lower load, then memberId ascending.
 *   Strings compare by UTF-16 code units, never by locale.
 * - Selection takes the first `collaborators` eligible members in ranking
 *   order, or fails when fewer are eligible.
 * - Swarm choice (when the caller names no swarm): the swarm with the most
 *   eligible members; ties go to the higher sum of its eligible members'
 *   reputations, then swarmId ascending.
 * - Leader: the active candidate, not excluded, with the highest
 *   reputation; ties go to memberId ascending (priority and load do not
 *   matter).
 */
import type { MemberCandidate, MemberPriority, SelectionCriteria, SelectionResult } from './model.ts';

/** A vote's weight multiplier under `weighted` consensus, and the ranking order of priorities. */
export const PRIORITY_WEIGHT: Record<MemberPriority, number> = { low: 0.5, normal: 1, high: 2 };

/** Members in ranking order (see the file header). Returns a new array. */
export function rankMembers(members: MemberCandidate[]): MemberCandidate[] {
  return [...members].sort(
    (a, b) =>
      b.reputation - a.reputation ||
      PRIORITY_WEIGHT[b.priority] - PRIORITY_WEIGHT[a.priority] ||
      a.load - b.load ||
      compareStrings(a.memberId, b.memberId),
  );
}

/** The `collaborators` best-ranked eligible members, or why there are too few. */
export function selectMembers(members: MemberCandidate[], criteria: SelectionCriteria): SelectionResult {
  const eligible = members.filter((member) => isEligible(member, criteria));
  if (eligible.length >= criteria.collaborators) {
    return { ok: true, members: rankMembers(eligible).slice(0, Math.max(0, criteria.collaborators)) };
  }
  const unhealthy = members.filter(
    (member) => (member.status === 'suspect' || member.status === 'failed') && matchesCriteria(member, criteria),
  ).length;
  return { ok: false, eligible: eligible.length, reason: shortfallReason(criteria, eligible.length, unhealthy) };
}

/** The swarm with the most eligible members (see the file header), null when no member is eligible. */
export function chooseSwarm(members: MemberCandidate[], criteria: SelectionCriteria): string | null {
  const bySwarm = new Map<string, { count: number; reputation: number }>();
  // summed in memberId order, so the result does not depend on the input order
  const eligible = members.filter((member) => isEligible(member, criteria)).sort((a, b) => compareStrings(a.memberId, b.memberId));
  for (const member of eligible) {
    const entry = bySwarm.get(member.swarmId) ?? { count: 0, reputation: 0 };
    bySwarm.set(member.swarmId, { count: entry.count + 1, reputation: entry.reputation + member.reputation });
  }
  const ranked = [...bySwarm].sort(([idA, a], [idB, b]) => b.count - a.count || b.reputation - a.reputation || compareStrings(idA, idB));
  return ranked[0]?.[0] ?? null;
}

/** The active, not excluded candidate with the highest reputation (ties: memberId ascending), or null. */
export function electLeader(candidates: MemberCandidate[], exclude: readonly string[]): MemberCandidate | null {
  const pool = candidates.filter((candidate) => candidate.status === 'active' && !exclude.includes(candidate.memberId));
  const ranked = pool.sort((a, b) => b.reputation - a.reputation || compareStrings(a.memberId, b.memberId));
  return ranked[0] ?? null;
}

/** Active and matching every criterion given. */
function isEligible(member: MemberCandidate, criteria: SelectionCriteria): boolean {
  return member.status === 'active' && matchesCriteria(member, criteria);
}

function matchesCriteria(member: MemberCandidate, criteria: SelectionCriteria): boolean {
  return (
    (criteria.capability === undefined || criteria.capability === member.capability) &&
    (criteria.region === undefined || criteria.region === member.region) &&
    (criteria.role === undefined || criteria.role === member.role)
  );
}

/** E.g. "needs 5 active members with capability gpu in region eu; 3 are eligible (2 more are suspect or failed)". */
function shortfallReason(criteria: SelectionCriteria, eligible: number, unhealthy: number): string {
  const traits = [
    criteria.capability === undefined ? null : `capability ${criteria.capability}`,
    criteria.role === undefined ? null : `role ${criteria.role}`,
  ].filter((trait) => trait !== null);
  const wanted =
    `needs ${criteria.collaborators} active ${criteria.collaborators === 1 ? 'member' : 'members'}` +
    (traits.length > 0 ? ` with ${traits.join(' and ')}` : '') +
    (criteria.region === undefined ? '' : ` in region ${criteria.region}`);
  const found = `${eligible} ${eligible === 1 ? 'is' : 'are'} eligible`;
  const more = unhealthy > 0 ? ` (${unhealthy} more ${unhealthy === 1 ? 'is' : 'are'} suspect or failed)` : '';
  return `${wanted}; ${found}${more}`;
}

/** Code-unit order, independent of locale. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * How the copies of one subtask become a validated result under a
 * verification policy (README "Verification"). Copies are compared with the
 * policy's comparator (compare.ts); a failed copy (out of attempts) gives no
 * answer but counts toward max_copies.
 *
 * - `adaptive`, one copy, completed, its host trusted and this result not
 *   drawn for a spot check: validated by trust. (The caller draws the spot
 *   check, with probability spot_check_rate, once: when the first result of
 *   a trusted host comes in; and checks it whatever the draw once the host's
 *   last results taken on trust reach spotCheckDue's bound.)
 * - Until some copy has completed, nothing is added: under adaptive, whether
 *   a second copy is needed depends on whose result it is; and a copy out of
 *   attempts is a failure, not a disagreement (with no copy completed and
 *   none open, the subtask fails, as it would without a policy).
 * - Otherwise (replicate, or adaptive with an untrusted host, a spot check,
 *   or more than one copy): validated as soon as `quorum` completed copies
 *   agree, even while others run (those are withdrawn); the winner is the
 *   lowest-numbered copy of the largest agreeing group, and the completed
 *   copies outside it dissent.
 * - When the open copies can no longer make a quorum (the largest group plus
 *   every open copy is short of it), the missing copies are added at once,
 *   on hosts holding none, up to max_copies; else it waits for them.
 * - Nothing open and nothing more to add: `inconclusive` (every answer
 *   kept, none counts) when some copy completed, `failed` when none did.
 */
import type { ValidatedBy, VerificationSettings } from '../schemas/verification.ts';
import { groupResults } from './compare.ts';

/**
 * Whether a trusted host's next result is spot-checked whatever the draw: `trustedRun` of its results in a row were
 * taken on its trust alone, and the next would make ⌈2 / r⌉. The draws stay independent (a host cannot tell which
 * result is checked), but no host that turns bad gets more than ⌈2 / r⌉ − 1 results in before one is checked.
 */
export function spotCheckDue(trustedRun: number, rate: number): boolean {
  return rate > 0 && trustedRun + 1 >= Math.ceil(2 / rate);
}

export interface CopyOutcome {
  replica: number;
  state: 'open' | 'completed' | 'failed';
  /** A completed copy's result. */
  result?: unknown;
  /** Its host is trusted now (adaptive reads it for a lone first copy). */
  trusted?: boolean;
}

export type CopyDecision =
  | { state: 'waiting' }
  /** `count` more copies, each on a host holding none of this subtask. */
  | { state: 'add_copies'; count: number }
  | { state: 'validated'; by: ValidatedBy; winner: number; agreeing: number[]; dissenting: number[] }
  | { state: 'inconclusive'; reason: string; answers: number }
  | { state: 'failed'; reason: string };

export interface CopyContext {
  /** Hosts that could take another copy now (holding none of it, on another machine, not quarantined). */
  canAdd: number;
  /** This lone trusted result was drawn for a spot check. */
  spotCheck: boolean;
}

type Policy = Pick<VerificationSettings, 'policy' | 'quorum' | 'max_copies' | 'comparator' | 'relative_tolerance' | 'absolute_tolerance'>;

/** What to do with a subtask given all its copies (cancelled ones left out), in replica order. */
export function decideCopies(copies: readonly CopyOutcome[], policy: Policy, context: CopyContext): CopyDecision {
  const completed = copies.filter((c) => c.state === 'completed');
  const open = copies.filter((c) => c.state === 'open').length;
  const quorum = Math.max(1, policy.quorum);
  // No answer yet: wait for one (failures are retried by attempts, not answered with new copies).
  if (completed.length === 0) return open > 0 ? { state: 'waiting' } : failed();
  if (policy.policy === 'adaptive' && copies.length === 1 && completed.length === 1 && completed[0]!.trusted && !context.spotCheck)
    return { state: 'validated', by: 'trust', winner: completed[0]!.replica, agreeing: [completed[0]!.replica], dissenting: [] };

  const groups = groupResults(completed, (c) => c.result, policy);
  const largest = groups[0] ?? [];
  if (largest.length >= quorum) {
    const agreeing = largest.map((c) => c.replica);
    return {
      state: 'validated',
      by: 'quorum',
      winner: Math.min(...agreeing),
      agreeing: [...agreeing].sort((a, b) => a - b),
      dissenting: completed
        .map((c) => c.replica)
        .filter((r) => !agreeing.includes(r))
        .sort((a, b) => a - b),
    };
  }
  const missing = quorum - largest.length - open;
  const room = Math.max(0, policy.max_copies - copies.length);
  const count = Math.min(missing, room, context.canAdd);
  if (missing > 0 && count > 0) return { state: 'add_copies', count };
  if (open > 0) return { state: 'waiting' };
  if (completed.length === 0) return failed();
  return {
    state: 'inconclusive',
    answers: groups.length,
    reason:
      groups.length === 1
        ? `${completed.length} of ${quorum} agreeing results, and no host is left to run another copy`
        : `${groups.length} different answers among ${completed.length} results, ${quorum} needed to agree, after ${copies.length} copies`,
  };
}

function failed(): CopyDecision {
  return { state: 'failed', reason: 'every copy failed' };
}

/**
 * The records the swarm coordination functions work on. The server loads
 * these from the database; the functions themselves do no I/O.
 */

// The enumerations are defined with their schemas; they are the same bindings here.
export {
  CONSENSUS_ALGORITHMS,
  ConsensusAlgorithm,
  MEMBER_PRIORITIES,
  MEMBER_STATUSES,
  MemberPriority,
  MemberStatus,
  SWARM_ROLES,
  SwarmRole,
} from '../schemas/swarm.ts';
import type { ConsensusAlgorithm, MemberPriority, MemberStatus } from '../schemas/swarm.ts';

/** A swarm member as selection sees it. */
export interface MemberCandidate {
  memberId: string;
  swarmId: string;
  role: string;
  capability: string;
  region: string | null;
  priority: MemberPriority;
  status: MemberStatus;
  /** In [0, 1]; 0.5 for a new member. */
  reputation: number;
  /** Subtasks assigned or leased to it now. */
  load: number;
  /** The machine it runs on, as its owner labelled it (README "Verification"); null: a machine of its own. */
  host?: string | null | undefined;
}

/** What a coordination asks of its members. Absent fields do not filter. */
export interface SelectionCriteria {
  capability?: string | undefined;
  region?: string | undefined;
  role?: string | undefined;
  /** How many members to take. */
  collaborators: number;
}

export type SelectionResult =
  | { ok: true; members: MemberCandidate[] }
  /** Too few eligible members: `eligible` is how many there were, `reason` names what was missing. */
  | { ok: false; eligible: number; reason: string };

/** One member's submitted result for a coordination task. */
export interface Vote {
  memberId: string;
  /** Equal results have equal keys (SHA-256 of the canonical JSON of the compared value). */
  resultKey: string;
  /** A short text of the compared value for people (≤ 200 characters). */
  preview: string;
  reputation: number;
  priority: MemberPriority;
}

export interface ConsensusOptions {
  algorithm: ConsensusAlgorithm;
  /** `threshold`: the winning share needed, in (0, 1]. */
  threshold: number;
  /** Members expected to vote (the coordination's collaborators). */
  expectedVoters: number;
  /** True at the deadline or when no more votes can come: decide with what is there. */
  final: boolean;
  /**
   * `weighted`: the most one outstanding vote could weigh, used to decide
   * before every vote is in. Default 2 (reputation 1 × the `high` priority weight).
   */
  maxOutstandingWeight?: number | undefined;
}

export interface VoteTally {
  resultKey: string;
  preview: string;
  count: number;
  weight: number;
  members: string[];
}

export type ConsensusDecision =
  /** Votes are still outstanding and could change the outcome. */
  | { state: 'pending'; tallies: VoteTally[]; confidence: number | null }
  | { state: 'reached'; winner: string; confidence: number; tallies: VoteTally[]; agreeing: string[]; dissenting: string[] }
  | { state: 'failed'; reason: string; confidence: number | null; tallies: VoteTally[] };

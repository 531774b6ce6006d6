/**
 * The records the network coordination functions work on. The server loads
 * these from the database; the functions themselves do no I/O.
 */
import type { CoordinationStrategy, ExecutionStatus } from '../schemas/network.ts';

/** One subtask as decomposed from a task, before any agent is chosen. */
export interface PlannedSubtask {
  seq: number;
  /** What the worker receives on stdin: a chunk `{items, offset, params?}`, an explicit subtask, or the whole task. */
  payload: unknown;
  /** Capability tags the assignee must have (lower-case, unique). */
  requires: string[];
}

/** An agent as a strategy sees it. `agents` arrays are always in the network's order. */
export interface Candidate {
  id: string;
  capabilities: string[];
  /** Subtasks assigned or leased to it now (across all of the owner's work). */
  open: number;
  /** Seen recently and not offline: live agents are preferred over absent ones. */
  live: boolean;
  /** Measured mean seconds per completed attempt, null without history (centralized uses it). */
  avgTaskSeconds: number | null;
  /** The machine it runs on, as its owner labelled it: copies of one subtask never share one. Null: a machine of its own. */
  host?: string | null | undefined;
}

/** A subtask replica given to one agent. Replica 0 always exists; replicated strategies add 1, 2, … */
export interface Assignment {
  seq: number;
  replica: number;
  agentId: string;
}

export interface AssignmentPlan {
  assignments: Assignment[];
  /** The round-robin cursor to persist for the next execution. */
  cursor: number;
}

export interface AssignmentOptions {
  strategy: CoordinationStrategy;
  /** Persisted round-robin position (any non-negative integer; taken modulo the network's agent list). */
  cursor: number;
  /** hybrid: replicas per subtask. */
  replication: number;
  /**
   * Copies each subtask starts with under a verification policy (replicate: k; adaptive: 1), on distinct hosts:
   * the first by the strategy, the others the least loaded. Absent: the strategy's own (decentralized always
   * runs every host).
   */
  copies?: number | undefined;
}

/** Raised when no agent in the network has every tag a subtask requires. */
export class NoCapableAgentError extends Error {
  constructor(
    readonly seq: number,
    readonly requires: string[],
  ) {
    super(`No agent in the network has every capability subtask ${seq} requires (${requires.join(', ')})`);
    this.name = 'NoCapableAgentError';
  }
}

export interface ChooseOptions {
  cursor: number;
  /** Hard: never choose these (agents already holding another replica of the subtask). */
  exclude: readonly string[];
  /** Hard: never choose an agent with one of these host labels (the machines other replicas run on). */
  excludeHosts?: readonly string[] | undefined;
  /** Soft: choose these only if nobody else is eligible (the agent whose lease expired). */
  avoid: readonly string[];
}

export type ReplicaState = 'open' | 'completed' | 'failed';

export interface ReplicaOutcome {
  replica: number;
  state: ReplicaState;
  /** canonicalJson(result) for completed replicas. */
  resultKey?: string;
}

/**
 * How a subtask's replicas become one result:
 * - `single`: the one replica's result (round-robin, least-loaded, capability-match, centralized);
 * - `majority`: every replica finishes, then the result more than half of the completed ones agree on (decentralized);
 * - `quorum`: accepted as soon as `quorum` replicas agree; otherwise one more replica, up to `maxReplicas` (hybrid).
 */
export type ReplicaPolicy = { kind: 'single' } | { kind: 'majority' } | { kind: 'quorum'; quorum: number; maxReplicas: number };

export type ReplicaDecision =
  /** `winner` is the replica whose result is accepted; `agreeing` replicas returned it out of `completed`. */
  | { state: 'decided'; winner: number; agreeing: number; completed: number; distinct: number }
  | { state: 'waiting' }
  | { state: 'add_replica' }
  | { state: 'failed'; reason: string };

/** A finished or running execution, as the metrics read it. */
export interface ExecutionRecord {
  status: ExecutionStatus;
  createdAt: Date;
  completedAt: Date | null;
  /** Replicated subtasks decided, and how many of those had replicas that disagreed. */
  replicatedDecided: number;
  disagreements: number;
}

export type AttemptOutcome = 'open' | 'completed' | 'failed' | 'expired';

export interface AttemptRecord {
  agentId: string;
  outcome: AttemptOutcome;
  startedAt: Date;
  endedAt: Date | null;
}

export interface AgentRecord {
  id: string;
  /** null when the agent no longer exists. */
  name: string | null;
  open: number;
  live: boolean;
  lastSeen: Date | null;
}

export interface MetricsInput {
  /** Most recent first; already bounded by the caller. Only finished ones (completed, failed) count for times and rates. */
  executions: ExecutionRecord[];
  /** Most recent first; already bounded by the caller. */
  attempts: AttemptRecord[];
  /** The network's agents in network order. */
  agents: AgentRecord[];
  /** Attempts completed inside the window (counted by the caller, not bounded by the sample). */
  completedInWindow: number;
  windowSeconds: number;
  queueDepth: number;
  inFlight: number;
}

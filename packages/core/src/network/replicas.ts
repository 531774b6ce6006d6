/**
 * How the replicas of one subtask become its result. Replicas agree when
 * their results have the same canonical JSON (`resultKey`).
 *
 * - `single` (round-robin, least-loaded, capability-match, centralized):
 *   the one replica's result, or its failure.
 * - `majority` (decentralized): wait until every replica has finished, then
 *   accept the result that more than half of the completed replicas
 *   returned; without such a majority the subtask fails.
 * - `quorum` (hybrid, as volunteer-computing projects validate work): accept
 *   a result as soon as `quorum` completed replicas agree on it, even while
 *   others still run. When every replica has finished without a quorum, one
 *   more replica is added, up to `maxReplicas`; after that the result more
 *   than half of the completed replicas agree on is accepted, or the subtask
 *   fails.
 */
import type { CoordinationStrategy } from '../schemas/network.ts';
import type { ReplicaDecision, ReplicaOutcome, ReplicaPolicy } from './model.ts';
import { isReplicated } from './strategies.ts';

/** The policy a network's strategy and settings give its subtasks. */
export function replicaPolicy(
  strategy: CoordinationStrategy,
  settings: { replication: number; max_replication: number },
  agentCount: number,
): ReplicaPolicy {
  if (!isReplicated(strategy)) return { kind: 'single' };
  if (strategy === 'decentralized') return { kind: 'majority' };
  const quorum = Math.max(1, Math.min(settings.replication, agentCount));
  return { kind: 'quorum', quorum, maxReplicas: Math.max(quorum, Math.min(settings.max_replication, agentCount)) };
}

/**
 * What to do with a subtask given the state of all its replicas.
 * `canAddReplica` says whether an agent without a replica of it is left
 * (only the quorum policy adds replicas).
 */
export function decideReplicas(outcomes: ReplicaOutcome[], policy: ReplicaPolicy, canAddReplica: boolean): ReplicaDecision {
  switch (policy.kind) {
    case 'single':
      return decideSingle(outcomes);
    case 'majority':
      return decideByMajority(outcomes);
    case 'quorum':
      return decideByQuorum(outcomes, policy.quorum, policy.maxReplicas, canAddReplica);
  }
}

/** Completed replicas that returned the same result, replicas in ascending order. */
interface Agreement {
  resultKey: string;
  replicas: number[];
}

/** The one replica decides. (Should there be several, a completed one wins, the lowest-numbered.) */
function decideSingle(outcomes: readonly ReplicaOutcome[]): ReplicaDecision {
  const completed = outcomes.filter((outcome) => outcome.state === 'completed');
  if (completed.length > 0) {
    const winner = Math.min(...completed.map((outcome) => outcome.replica));
    return { state: 'decided', winner, agreeing: 1, completed: 1, distinct: 1 };
  }
  if (outcomes.some((outcome) => outcome.state === 'open')) return { state: 'waiting' };
  return { state: 'failed', reason: 'the subtask failed' };
}

function decideByMajority(outcomes: readonly ReplicaOutcome[]): ReplicaDecision {
  if (outcomes.some((outcome) => outcome.state === 'open')) return { state: 'waiting' };
  const agreements = agreementsOf(outcomes);
  const completed = completedCount(agreements);
  if (completed === 0) return { state: 'failed', reason: 'every replica failed' };
  const largest = agreements[0]!;
  if (isMajority(largest, completed)) return decided(largest, agreements);
  return { state: 'failed', reason: `no majority: ${disagreementSummary(agreements, completed)}` };
}

function decideByQuorum(outcomes: readonly ReplicaOutcome[], quorum: number, maxReplicas: number, canAddReplica: boolean): ReplicaDecision {
  const agreements = agreementsOf(outcomes);
  const largest = agreements[0];
  if (largest !== undefined && largest.replicas.length >= quorum) return decided(largest, agreements);
  if (outcomes.some((outcome) => outcome.state === 'open')) return { state: 'waiting' };
  if (outcomes.length < maxReplicas && canAddReplica) return { state: 'add_replica' };
  const completed = completedCount(agreements);
  if (largest === undefined) return { state: 'failed', reason: 'every replica failed' };
  if (isMajority(largest, completed)) return decided(largest, agreements);
  return { state: 'failed', reason: `no quorum: ${disagreementSummary(agreements, completed)}, ${quorum} needed to agree` };
}

/**
 * The completed replicas grouped by result, largest group first; among
 * equally large groups the one holding the lowest replica number comes first.
 */
function agreementsOf(outcomes: readonly ReplicaOutcome[]): Agreement[] {
  const byKey = new Map<string, number[]>();
  for (const outcome of outcomes) {
    if (outcome.state !== 'completed') continue;
    const key = outcome.resultKey ?? 'null';
    byKey.set(key, [...(byKey.get(key) ?? []), outcome.replica]);
  }
  const agreements = [...byKey].map(([resultKey, replicas]) => ({ resultKey, replicas: replicas.sort((a, b) => a - b) }));
  return agreements.sort((a, b) => b.replicas.length - a.replicas.length || a.replicas[0]! - b.replicas[0]!);
}

function completedCount(agreements: readonly Agreement[]): number {
  return agreements.reduce((sum, agreement) => sum + agreement.replicas.length, 0);
}

/** More than half of the completed replicas returned this result. */
function isMajority(agreement: Agreement, completed: number): boolean {
  return agreement.replicas.length * 2 > completed;
}

/** The accepted result is the lowest-numbered replica of the agreeing group. */
function decided(winner: Agreement, agreements: readonly Agreement[]): ReplicaDecision {
  return {
    state: 'decided',
    winner: winner.replicas[0]!,
    agreeing: winner.replicas.length,
    completed: completedCount(agreements),
    distinct: agreements.length,
  };
}

function disagreementSummary(agreements: readonly Agreement[], completed: number): string {
  return `${agreements.length} distinct results among ${completed} completed replicas`;
}

import { createHash, randomUUID } from 'node:crypto';
import {
  canonicalJson,
  chooseAgent,
  type CoordinationStrategy,
  decideReplicas,
  decomposeTask,
  type ExecutionResults,
  type ExecutionView,
  isCapable,
  NoCapableAgentError,
  type NetworkTask,
  planAssignments,
  type Priority,
  reduceResults,
  type ReplicaOutcome,
  replicaPolicy,
} from '@aitbc/core';
import { jsonInput, type PrismaTx } from '../db/client.ts';
import { loadCandidates } from './candidates.ts';
import { executionEnded, executionStarted, replicasDecided } from '../stats.ts';
import type { ParentKeys, WorkParent } from '../work/parent.ts';
import { type ExecutionRow, type NetworkRow, networkSettings, priorityRank, type SubtaskRow, toExecutionView } from './views.ts';
import { conflict, type DomainError, notFound, unprocessable } from '../errors.ts';

/** Subtask states that still expect work from someone. */
export const OPEN_STATES = ['pending', 'assigned', 'leased'];
const FINISHED_EXECUTION = ['completed', 'failed', 'cancelled'];

export function networkNotFound(id: string): DomainError {
  return notFound(`Agent network ${id} not found`);
}

export function executionNotFound(id: string): DomainError {
  return notFound(`Execution ${id} not found`);
}

/** The key replicas are compared by: equal results have equal keys. */
export function resultKey(result: unknown): string {
  return createHash('sha256').update(canonicalJson(result)).digest('hex');
}

const strategyOf = (n: NetworkRow) => n.coordinationStrategy as CoordinationStrategy;
const later = (now: Date, seconds: number) => new Date(now.getTime() + seconds * 1000);

/**
 * Decompose the task, assign every subtask by the network's strategy, and
 * store the execution with its subtasks and their assignments at once.
 */
export async function submitExecution(
  tx: PrismaTx,
  ownerId: string,
  input: { network_id: string; task: NetworkTask; priority: Priority },
  now: Date,
): Promise<ExecutionView> {
  const network = await tx.agentNetwork.findFirst({ where: { id: input.network_id, ownerId } });
  if (!network) throw networkNotFound(input.network_id);
  if (network.status !== 'active') {
    const how = network.status === 'paused' ? `; resume it with PATCH /api/v1/agents/networks/${network.id} {"status":"active"}` : '';
    throw conflict(`Agent network ${network.id} is ${network.status} and accepts no executions${how}`);
  }
  const candidates = await loadCandidates(tx, network, now);
  if (candidates.length === 0) {
    throw conflict(`None of agent network ${network.id}'s agents exist any more; update its agents first`);
  }
  const planned = decomposeTask(input.task, candidates.length);
  let plan: ReturnType<typeof planAssignments>;
  try {
    plan = planAssignments(planned, candidates, {
      strategy: strategyOf(network),
      cursor: network.rrCursor,
      replication: network.replication,
    });
  } catch (error) {
    if (error instanceof NoCapableAgentError) throw unprocessable(error.message);
    throw error;
  }

  const execution = await tx.agentNetworkExecution.create({
    data: {
      id: randomUUID(),
      networkId: network.id,
      ownerId,
      task: input.task as object,
      priority: input.priority,
      status: 'queued',
      subtaskCount: planned.length,
      createdAt: now,
    },
  });
  const bySeq = new Map(planned.map((p) => [p.seq, p]));
  const rows = plan.assignments.map((a) => {
    const subtask = bySeq.get(a.seq)!;
    return {
      id: randomUUID(),
      ownerId,
      networkId: network.id,
      executionId: execution.id,
      seq: a.seq,
      replica: a.replica,
      payload: jsonInput(subtask.payload) as object,
      requires: subtask.requires,
      priorityRank: priorityRank(input.priority),
      status: 'assigned',
      assigneeId: a.agentId,
      assignedAt: now,
      claimBy: later(now, network.claimTimeoutSeconds),
      maxAttempts: network.maxAttempts,
      createdAt: now,
    };
  });
  await tx.subtask.createMany({ data: rows });
  await tx.agentNetwork.update({ where: { id: network.id }, data: { rrCursor: plan.cursor } });
  await executionStarted(tx, network.id, now);
  const subtasks = await tx.subtask.findMany({ where: { executionId: execution.id }, orderBy: [{ seq: 'asc' }, { replica: 'asc' }] });
  return toExecutionView(execution, subtasks);
}

/**
 * Take the execution's row lock before settling any of its subtasks, so that
 * two replicas finishing at once are decided one after the other (on
 * PostgreSQL; SQLite's gate already serialises). Returns null when the
 * execution no longer takes results.
 */
export async function lockExecution(tx: PrismaTx, executionId: string, now: Date): Promise<ExecutionRow | null> {
  const touched = await tx.agentNetworkExecution.updateMany({
    where: { id: executionId, status: { in: ['queued', 'running'] } },
    data: { updatedAt: now },
  });
  if (touched.count === 0) return null;
  return tx.agentNetworkExecution.findUnique({ where: { id: executionId } });
}

/**
 * Give an open replica to another agent by the network's strategy, avoiding
 * `avoid` (the agent that just lost or dropped it) when anyone else can take
 * it. With no capable agent left, the replica fails for good. The caller has
 * already moved the row out of its previous state.
 */
export async function reassign(tx: PrismaTx, subtask: SubtaskRow, network: NetworkRow, avoid: string[], now: Date): Promise<string | null> {
  const siblings = await tx.subtask.findMany({
    where: { executionId: subtask.executionId, seq: subtask.seq, id: { not: subtask.id } },
    select: { assigneeId: true },
  });
  const candidates = await loadCandidates(tx, network, now);
  const choice = chooseAgent(strategyOf(network), (subtask.requires as string[] | null) ?? [], candidates, {
    cursor: network.rrCursor,
    exclude: siblings.flatMap((s) => (s.assigneeId ? [s.assigneeId] : [])),
    avoid,
  });
  if (choice.cursor !== network.rrCursor) await tx.agentNetwork.update({ where: { id: network.id }, data: { rrCursor: choice.cursor } });
  return choice.agentId;
}

/** Cancel every replica of the execution (or of one subtask) that still waits for work, and close their attempts. */
async function cancelOpen(tx: PrismaTx, where: { executionId: string; seq?: number }, now: Date): Promise<void> {
  const open = await tx.subtask.findMany({ where: { ...where, status: { in: OPEN_STATES } }, select: { id: true } });
  if (open.length === 0) return;
  const ids = open.map((s) => s.id);
  await tx.subtask.updateMany({
    where: { id: { in: ids } },
    data: { status: 'cancelled', leaseId: null, leaseExpiresAt: null, claimBy: null, completedAt: now },
  });
  await tx.subtaskAttempt.updateMany({ where: { subtaskId: { in: ids }, outcome: 'open' }, data: { outcome: 'cancelled', endedAt: now } });
}

function outcomeOf(s: SubtaskRow): ReplicaOutcome {
  if (s.status === 'completed') return { replica: s.replica, state: 'completed', resultKey: s.resultKey ?? '' };
  if (s.status === 'failed') return { replica: s.replica, state: 'failed' };
  return { replica: s.replica, state: 'open' };
}

/**
 * After a replica of subtask `seq` finished, decide what the subtask's
 * result is (or that it needs another replica, or failed), and finish the
 * execution when that was its last subtask. Call with the execution locked.
 */
export async function decideSubtask(tx: PrismaTx, execution: ExecutionRow, seq: number, now: Date, loaded?: NetworkRow): Promise<void> {
  const replicas = await tx.subtask.findMany({ where: { executionId: execution.id, seq }, orderBy: { replica: 'asc' } });
  if (replicas.some((r) => r.accepted)) return;
  const network = loaded ?? (await tx.agentNetwork.findUniqueOrThrow({ where: { id: execution.networkId } }));
  const agentIds = network.agents as string[];
  const policy = replicaPolicy(strategyOf(network), networkSettings(network), agentIds.length);
  const live = replicas.filter((r) => r.status !== 'cancelled');
  const outcomes = live.map(outcomeOf);
  const requires = (replicas[0]?.requires as string[] | null) ?? [];

  let canAdd = false;
  if (policy.kind === 'quorum' && outcomes.every((o) => o.state !== 'open')) {
    const holders = new Set(replicas.map((r) => r.assigneeId));
    canAdd = (await loadCandidates(tx, network, now)).some((c) => isCapable(c, requires) && !holders.has(c.id));
  }

  let decision = decideReplicas(outcomes, policy, canAdd);
  // When the candidates changed since canAdd was computed, decide without another replica.
  if (decision.state === 'add_replica' && !(await addReplica(tx, execution, network, replicas, now)))
    decision = decideReplicas(outcomes, policy, false);
  if (decision.state === 'waiting' || decision.state === 'add_replica') return;
  if (decision.state === 'failed') {
    // The workers' own words say more than "the subtask failed": quote the last one.
    const lastError = live.filter((r) => r.status === 'failed' && r.error).at(-1)?.error;
    const detail =
      lastError && decision.reason !== lastError
        ? policy.kind === 'single'
          ? lastError
          : `${decision.reason} (last error: ${lastError})`
        : decision.reason;
    return failExecution(tx, execution, `subtask ${seq} failed: ${detail}`, now);
  }

  const winner = live.find((r) => r.replica === decision.winner)!;
  await tx.subtask.updateMany({ where: { id: winner.id }, data: { accepted: true } });
  if (live.some((r) => OPEN_STATES.includes(r.status))) await cancelOpen(tx, { executionId: execution.id, seq }, now);
  const replicated = policy.kind !== 'single';
  const updated = await tx.agentNetworkExecution.update({
    where: { id: execution.id },
    data: {
      decidedCount: { increment: 1 },
      ...(replicated ? { replicatedDecided: { increment: 1 }, disagreements: { increment: decision.distinct > 1 ? 1 : 0 } } : {}),
    },
  });
  if (replicated) await replicasDecided(tx, execution.networkId, decision.distinct > 1);
  if (updated.decidedCount >= updated.subtaskCount) await completeExecution(tx, updated, now);
}

/** One more replica of a disputed subtask, on an agent that holds none of it yet. False when nobody can take it. */
async function addReplica(tx: PrismaTx, execution: ExecutionRow, network: NetworkRow, replicas: SubtaskRow[], now: Date): Promise<boolean> {
  const first = replicas[0]!;
  const requires = (first.requires as string[] | null) ?? [];
  const choice = chooseAgent(strategyOf(network), requires, await loadCandidates(tx, network, now), {
    cursor: network.rrCursor,
    exclude: replicas.flatMap((r) => (r.assigneeId ? [r.assigneeId] : [])),
    avoid: [],
  });
  if (!choice.agentId) return false;
  await tx.subtask.create({
    data: {
      id: randomUUID(),
      ownerId: first.ownerId,
      networkId: first.networkId,
      executionId: execution.id,
      seq: first.seq,
      replica: Math.max(...replicas.map((r) => r.replica)) + 1,
      payload: jsonInput(first.payload) as object,
      requires,
      priorityRank: first.priorityRank,
      status: 'assigned',
      assigneeId: choice.agentId,
      assignedAt: now,
      claimBy: later(now, network.claimTimeoutSeconds),
      maxAttempts: first.maxAttempts,
      // Its place in the queue is the subtask's original one.
      createdAt: first.createdAt,
    },
  });
  return true;
}

/** Every subtask has a result: aggregate them in task order, and reduce when the task asks. */
async function completeExecution(tx: PrismaTx, execution: ExecutionRow, now: Date): Promise<void> {
  const accepted = await tx.subtask.findMany({
    where: { executionId: execution.id, accepted: true },
    orderBy: { seq: 'asc' },
    select: { result: true },
  });
  const subtaskResults = accepted.map((s) => s.result);
  const reducer = (execution.task as NetworkTask).reduce ?? null;
  const reduction = reducer ? reduceResults(reducer, subtaskResults) : null;
  const results: ExecutionResults = {
    subtask_results: subtaskResults,
    reduce: reducer,
    ...(reduction && 'value' in reduction ? { reduced: reduction.value } : {}),
    reduce_error: reduction && 'error' in reduction ? reduction.error : null,
  };
  await tx.agentNetworkExecution.update({
    where: { id: execution.id },
    data: { status: 'completed', completedAt: now, results: results as object },
  });
  await executionEnded(tx, execution.networkId, 'completed', execution.createdAt, now);
}

/** A subtask failed for good: the execution fails and its remaining work is withdrawn. */
export async function failExecution(tx: PrismaTx, execution: ExecutionRow, error: string, now: Date): Promise<void> {
  await cancelOpen(tx, { executionId: execution.id }, now);
  await tx.agentNetworkExecution.update({
    where: { id: execution.id },
    data: { status: 'failed', error, failedCount: { increment: 1 }, completedAt: now },
  });
  await executionEnded(tx, execution.networkId, 'failed', execution.createdAt, now);
}

export async function cancelExecution(
  tx: PrismaTx,
  ownerId: string,
  networkId: string,
  executionId: string,
  now: Date,
): Promise<ExecutionView> {
  const execution = await tx.agentNetworkExecution.findFirst({ where: { id: executionId, networkId, ownerId } });
  if (!execution) throw executionNotFound(executionId);
  const locked = await lockExecution(tx, executionId, now);
  if (!locked) {
    throw conflict(`Execution ${executionId} is already ${execution.status}`);
  }
  await cancelOpen(tx, { executionId }, now);
  const cancelled = await tx.agentNetworkExecution.update({ where: { id: executionId }, data: { status: 'cancelled', completedAt: now } });
  await executionEnded(tx, cancelled.networkId, 'cancelled', cancelled.createdAt, now);
  const subtasks = await tx.subtask.findMany({ where: { executionId }, orderBy: [{ seq: 'asc' }, { replica: 'asc' }] });
  return toExecutionView(cancelled, subtasks);
}

export const isFinished = (status: string) => FINISHED_EXECUTION.includes(status);

/** A network execution as the worker protocol's parent of its subtasks. */
export async function networkParent(tx: PrismaTx, s: ParentKeys, now: Date): Promise<WorkParent | null> {
  if (!s.executionId || !s.networkId) return null;
  const executionId = s.executionId;
  const network = await tx.agentNetwork.findUnique({ where: { id: s.networkId } });
  if (!network) return null;
  let locked: ExecutionRow | null = null;
  /** The execution's status as this transaction last set or saw it; unknown once a settle may have finished it. */
  let known: string | null = null;
  return {
    leaseSeconds: network.leaseSeconds,
    claimTimeoutSeconds: network.claimTimeoutSeconds,
    async lock() {
      locked = await lockExecution(tx, executionId, now);
      known = locked?.status ?? null;
      return locked !== null;
    },
    reassign: (subtask, avoid) => reassign(tx, subtask, network, avoid, now),
    async settle(subtask) {
      known = null;
      const execution = locked ?? (await lockExecution(tx, executionId, now));
      if (execution) await decideSubtask(tx, execution, subtask.seq, now, network);
    },
    async started() {
      // Only a live execution has assigned work to claim: queued becomes running, running stays.
      await tx.agentNetworkExecution.updateMany({
        where: { id: executionId, status: 'queued' },
        data: { status: 'running', startedAt: now },
      });
      known = 'running';
    },
    async describe() {
      known ??= (await tx.agentNetworkExecution.findUnique({ where: { id: executionId }, select: { status: true } }))?.status ?? 'running';
      return { execution_id: executionId, network_id: network.id, task_id: null, swarm_id: null, status: known };
    },
  };
}

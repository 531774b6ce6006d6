import { computeNetworkMetrics, type AttemptOutcome, type ExecutionStatus, type NetworkMetrics } from '@aitbc/core';
import type { PrismaTx } from '../db/client.ts';
import { isLive, openLoad } from './candidates.ts';
import type { NetworkRow } from './views.ts';

/** The most recent executions and attempts the figures are computed from (bounded, so status costs the same at any history size). */
export const EXECUTION_SAMPLE = 1000;
export const ATTEMPT_SAMPLE = 5000;

/** Load the network's recorded executions and attempts and compute its metrics from them. */
export async function measureNetwork(db: PrismaTx, network: NetworkRow, windowSeconds: number, now: Date): Promise<NetworkMetrics> {
  const ids = network.agents as string[];
  const windowStart = new Date(now.getTime() - windowSeconds * 1000);
  const [executions, attempts, agents, load, completedInWindow, queueDepth, inFlight] = await Promise.all([
    db.agentNetworkExecution.findMany({
      where: { networkId: network.id },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: EXECUTION_SAMPLE,
      select: { status: true, createdAt: true, completedAt: true, replicatedDecided: true, disagreements: true },
    }),
    db.subtaskAttempt.findMany({
      where: { networkId: network.id },
      orderBy: { startedAt: 'desc' },
      take: ATTEMPT_SAMPLE,
      select: { assigneeId: true, outcome: true, startedAt: true, endedAt: true },
    }),
    db.agent.findMany({ where: { ownerId: network.ownerId, id: { in: ids } }, select: { id: true, name: true, status: true, lastSeen: true } }),
    openLoad(db, network.ownerId, ids),
    db.subtaskAttempt.count({ where: { networkId: network.id, outcome: 'completed', endedAt: { gte: windowStart } } }),
    db.subtask.count({ where: { networkId: network.id, status: { in: ['pending', 'assigned'] } } }),
    db.subtask.count({ where: { networkId: network.id, status: 'leased' } }),
  ]);
  const byId = new Map(agents.map((a) => [a.id, a]));
  return computeNetworkMetrics({
    executions: executions.map((e) => ({ ...e, status: e.status as ExecutionStatus })),
    // Cancelled attempts were withdrawn, not done or failed: they say nothing about the agent.
    attempts: attempts
      .filter((a) => a.outcome !== 'cancelled')
      .map((a) => ({ agentId: a.assigneeId, outcome: a.outcome as AttemptOutcome, startedAt: a.startedAt, endedAt: a.endedAt })),
    agents: ids.map((id) => {
      const agent = byId.get(id);
      return {
        id,
        name: agent?.name ?? null,
        open: load.get(id) ?? 0,
        live: agent ? isLive(agent, network.claimTimeoutSeconds, now) : false,
        lastSeen: agent?.lastSeen ?? null,
      };
    }),
    completedInWindow,
    windowSeconds,
    queueDepth,
    inFlight,
  });
}

/** Executions queued or running, all executions, and the latest activity on any of them. */
export async function executionCounts(db: PrismaTx, networkId: string) {
  const [active, total, latest] = await Promise.all([
    db.agentNetworkExecution.count({ where: { networkId, status: { in: ['queued', 'running'] } } }),
    db.agentNetworkExecution.count({ where: { networkId } }),
    db.agentNetworkExecution.findFirst({ where: { networkId }, orderBy: { updatedAt: 'desc' }, select: { updatedAt: true } }),
  ]);
  return { active, total, lastActivity: latest?.updatedAt ?? null };
}

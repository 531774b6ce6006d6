import { type NetworkMetrics, networkMetricsFromTotals } from '@aitbc/core';
import type { PrismaTx } from '../db/client.ts';
import { openLoad, openWorkOf } from '../work/open-work.ts';
import { isLive } from './candidates.ts';
import type { NetworkRow } from './views.ts';

/** Completed executions the p95 is taken over (the latest ones; bounded, so status costs the same at any history size). */
export const P95_SAMPLE = 200;

/**
 * A network's metrics from its rolling aggregates (counted as events happen,
 * see stats.ts) and a few bounded reads: the latest completed executions for
 * the percentile, the per-minute completions in the window, and the open
 * work's counts. Nothing here grows with the history.
 */
export async function measureNetwork(db: PrismaTx, network: NetworkRow, windowSeconds: number, now: Date): Promise<NetworkMetrics> {
  const ids = network.agents as string[];
  const fromMinute = Math.floor((now.getTime() - windowSeconds * 1000) / 60_000);
  const [recent, stats, agents, load, window, open] = await Promise.all([
    db.agentNetworkExecution.findMany({
      where: { networkId: network.id, status: 'completed' },
      orderBy: { completedAt: 'desc' },
      take: P95_SAMPLE,
      select: { createdAt: true, completedAt: true },
    }),
    db.networkAgentStats.groupBy({
      by: ['agentId'],
      where: { networkId: network.id },
      _sum: { completed: true, failed: true, expired: true, taskSeconds: true },
    }),
    db.agent.findMany({
      where: { ownerId: network.ownerId, id: { in: ids } },
      select: { id: true, name: true, status: true, lastSeen: true },
    }),
    openLoad(db, ids),
    db.networkMinute.aggregate({ where: { networkId: network.id, minute: { gte: fromMinute } }, _sum: { completed: true } }),
    openWorkOf(db, 'network', network.id),
  ]);
  const byId = new Map(agents.map((a) => [a.id, a]));
  const statsOf = new Map(
    stats.map((st) => [
      st.agentId,
      {
        completed: st._sum.completed ?? 0,
        failed: st._sum.failed ?? 0,
        expired: st._sum.expired ?? 0,
        taskSeconds: st._sum.taskSeconds ?? 0,
      },
    ]),
  );
  const none = { completed: 0, failed: 0, expired: 0, taskSeconds: 0 };
  const total = [...statsOf.values()].reduce(
    (t, st) => ({
      completed: t.completed + st.completed,
      failed: t.failed + st.failed,
      expired: t.expired + st.expired,
      taskSeconds: t.taskSeconds + st.taskSeconds,
    }),
    none,
  );
  return networkMetricsFromTotals({
    executionsCompleted: network.executionsCompleted,
    executionsFailed: network.executionsFailed,
    executionSeconds: network.executionSeconds,
    recentExecutionSeconds: recent.flatMap((e) =>
      e.completedAt ? [Math.max(0, (e.completedAt.getTime() - e.createdAt.getTime()) / 1000)] : [],
    ),
    replicatedDecided: network.replicatedDecided,
    disagreements: network.disagreements,
    attempts: total,
    agents: ids.map((id) => {
      const agent = byId.get(id);
      const st = statsOf.get(id);
      return {
        id,
        name: agent?.name ?? null,
        open: load.get(id) ?? 0,
        live: agent ? isLive(agent, network.claimTimeoutSeconds, now) : false,
        lastSeen: agent?.lastSeen ?? null,
        completed: st?.completed ?? 0,
        failed: st?.failed ?? 0,
        expired: st?.expired ?? 0,
        taskSeconds: st?.taskSeconds ?? 0,
      };
    }),
    completedInWindow: window._sum.completed ?? 0,
    windowSeconds,
    queueDepth: open.pending + open.assigned,
    inFlight: open.leased,
  });
}

/**
 * Executions queued or running, all executions, and the latest activity: the
 * network's own counters, and the latest ended attempt (results stamp their
 * minute's shard, not the network row, so they never queue on it).
 */
export async function executionCounts(db: PrismaTx, network: NetworkRow) {
  const latest = await db.networkMinute.findFirst({
    where: { networkId: network.id, lastAt: { not: null } },
    orderBy: { minute: 'desc' },
    select: { minute: true },
  });
  const attempt = latest
    ? (await db.networkMinute.aggregate({ where: { networkId: network.id, minute: latest.minute }, _max: { lastAt: true } }))._max.lastAt
    : null;
  const lastActivity = [network.lastActivityAt, attempt].reduce<Date | null>((a, b) => (b && (!a || b > a) ? b : a), null);
  return { active: network.liveExecutions, total: network.executionsTotal, lastActivity };
}

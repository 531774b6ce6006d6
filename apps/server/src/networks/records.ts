// Network reads that query the database: finding a network, its metrics and
// execution counts. (views.ts maps rows to views and reads nothing.)
import { type NetworkMetrics, networkMetricsFromTotals } from '@aitbc/core';
import { inList, raw, type Sql, sql, time } from '../db/sql.ts';
import { notFound, type DomainError } from '../errors.ts';
import { openLoad, openWorkOf } from '../work/open-work.ts';
import { isLive } from './candidates.ts';
import { type NetworkRow, networkFrom } from './views.ts';

/** Completed executions the p95 is taken over (the latest ones; bounded, so status costs the same at any history size). */
export const P95_SAMPLE = 200;

export function networkNotFound(id: string): DomainError {
  return notFound(`Agent network ${id} not found`);
}

/** The owner's network, or a 404. */
export async function findNetwork(db: Sql, ownerId: string, id: string): Promise<NetworkRow> {
  const row = await db.one(sql`SELECT * FROM "agent_networks" WHERE "id" = ${id} AND "owner_id" = ${ownerId}`);
  if (!row) throw networkNotFound(id);
  return networkFrom(row);
}

interface AgentStatsRow {
  agent_id: string;
  completed: unknown;
  failed: unknown;
  expired: unknown;
  task_seconds: unknown;
}

/**
 * A network's metrics from its rolling aggregates (counted as events happen,
 * see stats.ts) and a few bounded reads: the latest completed executions for
 * the percentile, the per-minute completions in the window, and the open
 * work's counts. Nothing here grows with the history.
 */
export async function measureNetwork(db: Sql, network: NetworkRow, windowSeconds: number, now: Date): Promise<NetworkMetrics> {
  const ids = network.agents as string[];
  const fromMinute = Math.floor((now.getTime() - windowSeconds * 1000) / 60_000);
  const [recent, stats, agents, load, window, open] = await Promise.all([
    db.all<{ created_at: unknown; completed_at: unknown }>(sql`
      SELECT "created_at", "completed_at" FROM "agent_network_executions"
      WHERE "network_id" = ${network.id} AND "status" = 'completed' ORDER BY "completed_at" DESC LIMIT ${raw(String(P95_SAMPLE))}`),
    db.all<AgentStatsRow>(sql`
      SELECT "agent_id", SUM("completed") AS "completed", SUM("failed") AS "failed", SUM("expired") AS "expired",
        SUM("task_seconds") AS "task_seconds"
      FROM "network_agent_stats" WHERE "network_id" = ${network.id} GROUP BY "agent_id"`),
    db.all<{ id: string; name: string; status: string; last_seen: unknown }>(sql`
      SELECT "id", "name", "status", "last_seen" FROM "agents" WHERE "owner_id" = ${network.ownerId} AND "id" ${inList(ids)}`),
    openLoad(db, ids),
    db.one<{ completed: unknown }>(sql`
      SELECT SUM("completed") AS "completed" FROM "network_minutes" WHERE "network_id" = ${network.id} AND "minute" >= ${fromMinute}`),
    openWorkOf(db, 'network', network.id),
  ]);
  const byId = new Map(agents.map((a) => [a.id, { ...a, lastSeen: time(a.last_seen) }]));
  const statsOf = new Map(
    stats.map((st) => [
      st.agent_id,
      { completed: Number(st.completed), failed: Number(st.failed), expired: Number(st.expired), taskSeconds: Number(st.task_seconds) },
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
    recentExecutionSeconds: recent.flatMap((e) => {
      const completedAt = time(e.completed_at);
      return completedAt ? [Math.max(0, (completedAt.getTime() - time(e.created_at).getTime()) / 1000)] : [];
    }),
    replicatedDecided: network.replicatedDecided,
    disagreements: network.disagreements,
    attempts: total,
    agents: ids.map((id) => {
      const agent = byId.get(id);
      const st = statsOf.get(id) ?? none;
      return {
        id,
        name: agent?.name ?? null,
        open: load.get(id) ?? 0,
        live: agent ? isLive(agent, network.claimTimeoutSeconds, now) : false,
        lastSeen: agent?.lastSeen ?? null,
        ...st,
      };
    }),
    completedInWindow: Number(window?.completed ?? 0),
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
export async function executionCounts(db: Sql, network: NetworkRow) {
  const latest = await db.one<{ last_at: unknown }>(sql`
    SELECT MAX("last_at") AS "last_at" FROM "network_minutes"
    WHERE "network_id" = ${network.id} AND "minute" = (
      SELECT MAX("minute") FROM "network_minutes" WHERE "network_id" = ${network.id} AND "last_at" IS NOT NULL)`);
  const attempt = time(latest?.last_at);
  const lastActivity = [network.lastActivityAt, attempt].reduce<Date | null>((a, b) => (b && (!a || b > a) ? b : a), null);
  return { active: network.liveExecutions, total: network.executionsTotal, lastActivity };
}

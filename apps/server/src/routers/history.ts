import { HistoryQuery, HistoryView, MINUTE_MS, throughputHistory } from '@aitbc/core';
import { networkNotFound } from '../networks/records.ts';
import { swarmNotFound } from '../swarms/membership.ts';
import { readProcedure, router } from '../trpc.ts';

/** Most attempts one history query reads: bounds its cost at any history size. */
const MAX_ATTEMPTS = 50_000;
/**
 * Attempts are found by (network or swarm, started_at): one that ends inside
 * the window is read if it started at most this long before the window.
 */
const LOOKBACK_MS = 60 * 60 * 1000;

/**
 * Per-minute throughput and p95 task time, computed from the recorded
 * subtask attempts of one network or one swarm: what the dashboard charts.
 * No REST path: the dashboard speaks tRPC.
 */
export const historyRouter = router({
  /** Throughput per minute and p95 task time of one of your networks or swarms, over the last `minutes`, from its recorded attempts. */
  throughput: readProcedure
    .input(HistoryQuery)
    .output(HistoryView)
    .query(({ ctx, input }) =>
      ctx.db.run(async (db) => {
        const ownerId = ctx.principal.owner_id;
        const scope = input.network_id !== undefined ? ('network' as const) : ('swarm' as const);
        const id = (input.network_id ?? input.swarm_id)!;
        if (scope === 'network') {
          if (!(await db.agentNetwork.findFirst({ where: { id, ownerId }, select: { id: true } }))) throw networkNotFound(id);
        } else if (!(await db.swarm.findFirst({ where: { id, ownerId }, select: { id: true } }))) {
          throw swarmNotFound(id);
        }

        // Whole minutes: the current, partial minute is the last bucket.
        const now = Date.now();
        const end = Math.floor(now / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
        const start = end - input.minutes * MINUTE_MS;
        const rows = await db.subtaskAttempt.findMany({
          where: {
            ...(scope === 'network' ? { networkId: id } : { swarmId: id }),
            startedAt: { gte: new Date(start - LOOKBACK_MS) },
            outcome: { in: ['completed', 'failed', 'expired'] },
            endedAt: { gte: new Date(start) },
          },
          orderBy: { startedAt: 'desc' },
          take: MAX_ATTEMPTS + 1,
          select: { outcome: true, startedAt: true, endedAt: true },
        });
        const truncated = rows.length > MAX_ATTEMPTS;
        // endedAt is set on every row: the query asks for attempts that ended in the window.
        const ended = (truncated ? rows.slice(0, MAX_ATTEMPTS) : rows).map((r) => ({ ...r, endedAt: r.endedAt! }));
        const { points, totals } = throughputHistory(ended, start, input.minutes);
        return {
          scope,
          id,
          bucket_seconds: 60 as const,
          from: new Date(start).toISOString(),
          to: new Date(end).toISOString(),
          points,
          totals,
          truncated,
        };
      }),
    ),
});

import { setTimeout as wait } from 'node:timers/promises';
import { TRPCError } from '@trpc/server';
import { type LiveChange, OwnerList, type OwnerSummary, TaskList, TaskListQuery, LIVE_TASK_STATUSES } from '@aitbc/core';
import type { ServerEvent } from '../events.ts';
import { swarmNotFound } from '../swarms/membership.ts';
import { taskStatus } from '../swarms/records.ts';
import { emptyCounts, type MemberCounts } from '../swarms/views.ts';
import { adminProcedure, readProcedure, router } from '../trpc.ts';

/** Events this close together reach a live view as one message, so a busy swarm cannot make it re-query per claim. */
const COALESCE_MS = 150;
const LIVE_EXECUTION = ['queued', 'running'];

type WorkChanged = Extract<ServerEvent, { kind: 'work.changed' }>;

function merge(events: WorkChanged[], kind: LiveChange['kind']): LiveChange {
  const ids = (pick: (e: WorkChanged) => string | null | undefined) => [
    ...new Set(events.map(pick).filter((v): v is string => typeof v === 'string')),
  ];
  return {
    kind,
    // Ready (a new or resumed stream): re-read everything.
    everything: kind === 'ready',
    swarm_ids: ids((e) => e.swarm_id),
    task_ids: ids((e) => e.task_id),
    network_ids: ids((e) => e.network_id),
    execution_ids: ids((e) => e.execution_id),
    events: events.length,
    at: new Date().toISOString(),
  };
}

/**
 * What the operators' dashboard (apps/web) reads besides the swarm and
 * network procedures: a stream of "your work moved" (SSE; fed by the event
 * bus, so by LISTEN/NOTIFY across PostgreSQL instances), the task board, and
 * for admins every owner at a glance. tRPC only: no REST paths.
 */
export const liveRouter = router({
  /**
   * `ready` at once (and on every reconnect: re-read everything), then
   * `changed` whenever work of the caller's moved. An admin hears everyone's.
   * The stream ends if the key it was opened with is revoked.
   */
  changes: readProcedure.subscription(async function* ({ ctx, signal }): AsyncGenerator<LiveChange, void, unknown> {
    const { owner_id: ownerId, role, key_id: keyId } = ctx.principal;
    const pending: WorkChanged[] = [];
    let revoked = false;
    let resync = false;
    let wake: (() => void) | null = null;
    const notify = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    const unsubscribe = ctx.events.subscribe((e) => {
      if (e.kind === 'key.revoked' && keyId !== null && e.key_id === keyId) {
        revoked = true;
        notify();
      } else if (e.kind === 'bus.reconnected') {
        // Changes made on other instances meanwhile were missed: the view re-reads everything, as on a new stream.
        resync = true;
        notify();
      } else if (e.kind === 'work.changed' && (role === 'admin' || e.owner_id === ownerId)) {
        pending.push(e);
        if (pending.length === 1) notify();
      }
    });
    signal?.addEventListener('abort', notify, { once: true });
    // Rejects when the stream is aborted, which ends the wait early.
    const sleep = (ms: number) => wait(ms, undefined, signal ? { signal } : undefined).catch(() => undefined);
    try {
      yield merge([], 'ready');
      while (!signal?.aborted) {
        if (pending.length === 0 && !revoked && !resync) await new Promise<void>((resolve) => (wake = resolve));
        if (revoked) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'This API key was revoked' });
        if (signal?.aborted) break;
        await sleep(COALESCE_MS);
        if (resync) {
          // What came before it is covered by the re-read; what came after is said next.
          resync = false;
          yield merge([], 'ready');
        } else yield merge(pending.splice(0), 'changed');
      }
    } finally {
      unsubscribe();
      signal?.removeEventListener('abort', notify);
    }
  }),

  /** Your coordination tasks, newest first, each with its progress, members' state and (voting tasks) consensus. */
  tasks: readProcedure
    .input(TaskListQuery)
    .output(TaskList)
    .query(({ ctx, input }) =>
      ctx.db.run(async (db, sql) => {
        const ownerId = ctx.principal.owner_id;
        if (input.swarm_id !== undefined && !(await db.swarm.findFirst({ where: { id: input.swarm_id, ownerId }, select: { id: true } }))) {
          throw swarmNotFound(input.swarm_id);
        }
        const where = { ownerId, ...(input.swarm_id !== undefined ? { swarmId: input.swarm_id } : {}) };
        const [rows, total] = await Promise.all([
          db.swarmCoordination.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: input.limit }),
          db.swarmCoordination.count({ where }),
        ]);
        const tasks = [];
        for (const row of rows) tasks.push(await taskStatus(sql, row));
        return { tasks, total_count: total };
      }),
    ),

  /** Every owner with keys or objects, and what they run (admin). */
  owners: adminProcedure.output(OwnerList).query(({ ctx }) =>
    ctx.db.run(async (db) => {
      const [keys, swarms, members, tasks, agents, networks, executions] = await Promise.all([
        db.apiKey.groupBy({ by: ['ownerId'], where: { revokedAt: null }, _count: { _all: true } }),
        db.swarm.groupBy({ by: ['ownerId'], _count: { _all: true } }),
        db.swarmMember.groupBy({ by: ['ownerId', 'status'], _count: { _all: true } }),
        db.swarmCoordination.groupBy({ by: ['ownerId'], where: { status: { in: [...LIVE_TASK_STATUSES] } }, _count: { _all: true } }),
        db.agent.groupBy({ by: ['ownerId'], _count: { _all: true } }),
        db.agentNetwork.groupBy({ by: ['ownerId'], where: { status: { not: 'archived' } }, _count: { _all: true } }),
        db.agentNetworkExecution.groupBy({ by: ['ownerId'], where: { status: { in: LIVE_EXECUTION } }, _count: { _all: true } }),
      ]);
      const owners = new Map<string, OwnerSummary>();
      const of = (ownerId: string): OwnerSummary => {
        let o = owners.get(ownerId);
        if (!o) {
          o = {
            owner_id: ownerId,
            keys: 0,
            swarms: 0,
            members: emptyCounts(),
            tasks_active: 0,
            agents: 0,
            networks: 0,
            executions_active: 0,
          };
          owners.set(ownerId, o);
        }
        return o;
      };
      for (const g of keys) of(g.ownerId).keys = g._count._all;
      for (const g of swarms) of(g.ownerId).swarms = g._count._all;
      for (const g of members) {
        const counts: MemberCounts = of(g.ownerId).members;
        if (g.status in counts) counts[g.status as keyof MemberCounts] = g._count._all;
      }
      for (const g of tasks) of(g.ownerId).tasks_active = g._count._all;
      for (const g of agents) of(g.ownerId).agents = g._count._all;
      for (const g of networks) of(g.ownerId).networks = g._count._all;
      for (const g of executions) of(g.ownerId).executions_active = g._count._all;
      return { owners: [...owners.values()].sort((a, b) => a.owner_id.localeCompare(b.owner_id)), at: new Date().toISOString() };
    }),
  ),
});

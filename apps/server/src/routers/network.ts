import { TRPCError } from '@trpc/server';
import {
  IdempotentHeaders,
  type CoordinationStrategy,
  DEFAULT_NETWORK_SETTINGS,
  NetworkCreate,
  NetworkIdParam,
  NetworkList,
  NetworkListQuery,
  NetworkOptimizationView,
  NetworkStatus,
  NetworkStatusQuery,
  NetworkStatusView,
  NetworkUpdate,
  NetworkView,
  type Objective,
  OptimizeQuery,
  OptimizeRequest,
  recommend,
} from '@aitbc/core';
import { executionCounts, findNetwork, measureNetwork } from '../networks/records.ts';
import { checkReplication, requireOwnAgents, selectMetrics, settingColumns, verificationColumn } from '../networks/settings.ts';
import { networkSettings, networkVerification, networkVerificationView, toNetworkView } from '../networks/views.ts';
import { listPage } from '../pagination.ts';
import { type AuthedContext, actorOf, ownerProcedure, readProcedure, router, submitOf } from '../trpc.ts';
import { submitOnce } from '../idempotency.ts';
import { audit } from '../audit/log.ts';

const tags = ['agent networks'];
const base = '/api/v1/agents/networks';

async function optimize(ctx: AuthedContext, networkId: string, objective: Objective): Promise<NetworkOptimizationView> {
  return ctx.db.run(async (_, db) => {
    const network = await findNetwork(db, ctx.principal.owner_id, networkId);
    const now = ctx.clock.now();
    const metrics = await measureNetwork(db, network, 3600, now);
    const recommendations = recommend(
      metrics,
      {
        strategy: network.coordinationStrategy as CoordinationStrategy,
        settings: networkSettings(network),
        agents: network.agents as string[],
      },
      objective,
    );
    return {
      network_id: network.id,
      optimization_type: objective,
      recommendations,
      performance_metrics: metrics,
      optimized_at: now.toISOString(),
    };
  });
}

export const networkRouter = router({
  create: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: base,
        tags,
        summary: 'Create an agent network from your agents',
        protect: true,
        requestHeaders: IdempotentHeaders,
      },
      successStatus: 201,
    })
    .input(NetworkCreate)
    .output(NetworkView)
    .mutation(({ ctx, input }) => {
      const replication = input.replication ?? DEFAULT_NETWORK_SETTINGS.replication;
      const maxReplication = input.max_replication ?? Math.max(DEFAULT_NETWORK_SETTINGS.max_replication, replication);
      checkReplication({ replication, max_replication: maxReplication });
      return submitOnce(ctx.db, submitOf(ctx, 'network.create', input), async (db) => {
        await requireOwnAgents(db, ctx.principal.owner_id, input.agents);
        const network = await db.agentNetwork.create({
          data: {
            ownerId: ctx.principal.owner_id,
            name: input.name,
            description: input.description ?? null,
            agents: input.agents,
            coordinationStrategy: input.coordination_strategy,
            status: 'active',
            ...settingColumns(input),
            ...verificationColumn(undefined, input.verification),
            replication,
            maxReplication,
          },
        });
        return toNetworkView(network);
      });
    }),

  list: readProcedure
    .meta({ openapi: { method: 'GET', path: base, tags, summary: 'List your agent networks, newest first', protect: true } })
    .input(NetworkListQuery)
    .output(NetworkList)
    .query(({ ctx, input }) =>
      ctx.db.run(async (db) => {
        // Archived networks are kept for their history but listed only when asked for.
        const scope = { ownerId: ctx.principal.owner_id, status: input.status ?? { not: 'archived' } };
        const { items, ...page } = await listPage(
          input,
          ({ where, ...rest }) => db.agentNetwork.findMany({ where: { ...scope, ...where }, ...rest }),
          () => db.agentNetwork.count({ where: scope }),
        );
        return { networks: items.map(toNetworkView), ...page };
      }),
    ),

  get: readProcedure
    .meta({ openapi: { method: 'GET', path: `${base}/{network_id}`, tags, summary: 'Get one agent network', protect: true } })
    .input(NetworkIdParam)
    .output(NetworkView)
    .query(({ ctx, input }) => ctx.db.run(async (_, db) => toNetworkView(await findNetwork(db, ctx.principal.owner_id, input.network_id)))),

  update: ownerProcedure
    .meta({
      openapi: {
        method: 'PATCH',
        path: `${base}/{network_id}`,
        tags,
        summary: 'Change agents, strategy, settings, or pause and resume',
        protect: true,
      },
    })
    .input(NetworkUpdate)
    .output(NetworkView)
    .mutation(({ ctx, input }) =>
      ctx.db.transaction(async (db) => {
        const network = await findNetwork(db.sql, ctx.principal.owner_id, input.network_id);
        if (network.status === 'archived')
          throw new TRPCError({ code: 'CONFLICT', message: `Agent network ${network.id} is archived; create a new one` });
        if (input.agents) await requireOwnAgents(db, ctx.principal.owner_id, input.agents);
        checkReplication({
          replication: input.replication ?? network.replication,
          max_replication: input.max_replication ?? network.maxReplication,
        });
        const updated = await db.agentNetwork.update({
          where: { id: network.id },
          data: {
            ...(input.name !== undefined ? { name: input.name } : {}),
            ...(input.description !== undefined ? { description: input.description } : {}),
            ...(input.agents !== undefined ? { agents: input.agents } : {}),
            ...(input.coordination_strategy !== undefined ? { coordinationStrategy: input.coordination_strategy } : {}),
            ...(input.status !== undefined ? { status: input.status } : {}),
            ...settingColumns(input),
            ...verificationColumn(networkVerification(network), input.verification),
          },
        });
        if (input.lease_seconds !== undefined) {
          // Open work takes the new lease length from its next claim on.
          await db.subtask.updateMany({
            where: { networkId: network.id, status: { in: ['pending', 'assigned', 'leased'] } },
            data: { leaseSeconds: input.lease_seconds },
          });
        }
        if (input.agents) {
          // Work assigned to agents that left the network moves on at the next sweep.
          await ctx.work.handOn(db, { networkId: network.id, keeping: input.agents }, ctx.clock.now());
        }
        return toNetworkView(updated);
      }),
    ),

  archive: ownerProcedure
    .meta({
      openapi: {
        method: 'DELETE',
        path: `${base}/{network_id}`,
        tags,
        summary: 'Archive a network: no new executions, history kept',
        protect: true,
      },
    })
    .input(NetworkIdParam)
    .output(NetworkView)
    .mutation(({ ctx, input }) =>
      ctx.db.transaction(async (db) => {
        const network = await findNetwork(db.sql, ctx.principal.owner_id, input.network_id);
        if (network.status === 'archived')
          throw new TRPCError({ code: 'CONFLICT', message: `Agent network ${network.id} is already archived` });
        const archived = await db.agentNetwork.update({ where: { id: network.id }, data: { status: NetworkStatus.enum.archived } });
        await audit(db, actorOf(ctx), {
          action: 'network.archive',
          owner_id: network.ownerId,
          target_id: network.id,
          detail: { name: network.name },
        });
        return toNetworkView(archived);
      }),
    ),

  status: readProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: `${base}/{network_id}/status`,
        tags,
        summary: 'Status and performance metrics computed from recorded work',
        protect: true,
      },
    })
    .input(NetworkStatusQuery)
    .output(NetworkStatusView)
    .query(({ ctx, input }) =>
      ctx.db.run(async (_, db) => {
        const network = await findNetwork(db, ctx.principal.owner_id, input.network_id);
        const counts = await executionCounts(db, network);
        const metrics = await measureNetwork(db, network, input.window_seconds, ctx.clock.now());
        return {
          network_id: network.id,
          name: network.name,
          status: network.status as NetworkStatus,
          agent_count: (network.agents as string[]).length,
          active_tasks: counts.active,
          total_executions: counts.total,
          performance_metrics: selectMetrics(metrics, input.metrics),
          verification: networkVerificationView(network),
          last_activity: (counts.lastActivity ?? network.updatedAt).toISOString(),
        };
      }),
    ),

  optimize: readProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: `${base}/{network_id}/optimize`,
        tags,
        summary: 'Recommendations derived from measured metrics',
        protect: true,
      },
    })
    .input(OptimizeQuery)
    .output(NetworkOptimizationView)
    .query(({ ctx, input }) => optimize(ctx, input.network_id, input.objective)),

  optimizeFor: readProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: `${base}/{network_id}/optimize`,
        tags,
        summary: 'Recommendations for an objective (the legacy CLI’s form)',
        protect: true,
      },
    })
    .input(OptimizeRequest)
    .output(NetworkOptimizationView)
    .mutation(({ ctx, input }) => optimize(ctx, input.network_id, input.objective)),
});

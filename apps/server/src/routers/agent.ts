import { TRPCError } from '@trpc/server';
import { AgentIdParam, AgentList, AgentListQuery, AgentRegister, AgentUpdate, AgentView, type AgentStatus } from '@aitbc/core';
import { actorOf, ownerProcedure, readProcedure, router } from '../trpc.ts';
import { audit } from '../audit/log.ts';
import { listPage } from '../pagination.ts';
import { isMissingRecord, isUniqueViolation, type PrismaTx } from '../db/client.ts';

type AgentRow = NonNullable<Awaited<ReturnType<PrismaTx['agent']['findFirst']>>>;

export function toAgentView(a: AgentRow): AgentView {
  return {
    id: a.id,
    name: a.name,
    description: a.description,
    capabilities: a.capabilities as string[],
    status: a.status as AgentStatus,
    host: a.host,
    last_seen: a.lastSeen?.toISOString() ?? null,
    owner_id: a.ownerId,
    created_at: a.createdAt.toISOString(),
    updated_at: a.updatedAt.toISOString(),
  };
}

function agentNotFound(id: string): TRPCError {
  return new TRPCError({ code: 'NOT_FOUND', message: `Agent ${id} not found` });
}

/**
 * Each agent mutation is one statement; the database enforces what matters
 * (unique name per owner, the row being the caller's) and this turns its
 * refusal into the caller's error.
 */
function explain(error: unknown, agentId: string | undefined, name: string | undefined): never {
  if (isUniqueViolation(error))
    throw new TRPCError({ code: 'CONFLICT', message: `You already have an agent named "${name}"`, cause: error });
  if (isMissingRecord(error) && agentId) throw agentNotFound(agentId);
  throw error;
}

const tags = ['agents'];

export const agentRouter = router({
  register: ownerProcedure
    .meta({ openapi: { method: 'POST', path: '/api/v1/agents', tags, summary: 'Register an agent', protect: true }, successStatus: 201 })
    .input(AgentRegister)
    .output(AgentView)
    .mutation(async ({ ctx, input }) => {
      const agent = await ctx.db
        .run((db) =>
          db.agent.create({
            data: {
              ownerId: ctx.principal.owner_id,
              name: input.name,
              description: input.description ?? null,
              capabilities: input.capabilities,
              status: input.status,
              host: input.host ?? null,
              lastSeen: input.status === 'offline' ? null : new Date(),
            },
          }),
        )
        .catch((e) => explain(e, undefined, input.name));
      return toAgentView(agent);
    }),

  list: readProcedure
    .meta({ openapi: { method: 'GET', path: '/api/v1/agents', tags, summary: 'List your agents, newest first', protect: true } })
    .input(AgentListQuery)
    .output(AgentList)
    .query(({ ctx, input }) =>
      ctx.db.run(async (db) => {
        const scope = { ownerId: ctx.principal.owner_id, ...(input.status ? { status: input.status } : {}) };
        const { items, ...page } = await listPage(
          input,
          ({ where, ...rest }) => db.agent.findMany({ where: { ...scope, ...where }, ...rest }),
          () => db.agent.count({ where: scope }),
        );
        return { agents: items.map(toAgentView), ...page };
      }),
    ),

  get: readProcedure
    .meta({ openapi: { method: 'GET', path: '/api/v1/agents/{agent_id}', tags, summary: 'Get one agent', protect: true } })
    .input(AgentIdParam)
    .output(AgentView)
    .query(({ ctx, input }) =>
      ctx.db.run(async (db) => {
        const agent = await db.agent.findFirst({ where: { id: input.agent_id, ownerId: ctx.principal.owner_id } });
        if (!agent) throw agentNotFound(input.agent_id);
        return toAgentView(agent);
      }),
    ),

  update: ownerProcedure
    .meta({ openapi: { method: 'PATCH', path: '/api/v1/agents/{agent_id}', tags, summary: 'Update an agent', protect: true } })
    .input(AgentUpdate)
    .output(AgentView)
    .mutation(async ({ ctx, input }) => {
      const now = new Date();
      const agent = await ctx.db
        .transaction(async (db) => {
          const updated = await db.agent.update({
            where: { id: input.agent_id, ownerId: ctx.principal.owner_id },
            data: {
              ...(input.name !== undefined ? { name: input.name } : {}),
              ...(input.description !== undefined ? { description: input.description } : {}),
              ...(input.capabilities !== undefined ? { capabilities: input.capabilities } : {}),
              ...(input.host !== undefined ? { host: input.host } : {}),
              // A status report is a sign of life.
              ...(input.status !== undefined ? { status: input.status, lastSeen: now } : {}),
            },
          });
          // An agent going offline hands its unclaimed work on at the next sweep.
          if (input.status === 'offline') await ctx.work.handOn(db, { assigneeId: updated.id }, now);
          return updated;
        })
        .catch((e) => explain(e, input.agent_id, input.name));
      if (input.status !== undefined) ctx.agents.forget(agent.id);
      return toAgentView(agent);
    }),

  remove: ownerProcedure
    .meta({ openapi: { method: 'DELETE', path: '/api/v1/agents/{agent_id}', tags, summary: 'Deregister an agent', protect: true } })
    .input(AgentIdParam)
    .output(AgentView)
    .mutation(async ({ ctx, input }) => {
      const agent = await ctx.db
        .transaction(async (db) => {
          const removed = await db.agent.delete({ where: { id: input.agent_id, ownerId: ctx.principal.owner_id } });
          await audit(db, actorOf(ctx), {
            action: 'agent.remove',
            owner_id: removed.ownerId,
            target_id: removed.id,
            detail: { name: removed.name },
          });
          return removed;
        })
        .catch((e) => explain(e, input.agent_id, undefined));
      ctx.agents.forget(agent.id);
      return toAgentView(agent);
    }),
});

import { TRPCError } from '@trpc/server';
import {
  AgentIdParam,
  AgentList,
  AgentListQuery,
  AgentPresence,
  AgentPresenceView,
  AgentRegister,
  AgentUpdate,
  AgentView,
  type AgentStatus,
} from '@aitbc/core';
import { actAs, actorOf, type AuthedContext, ownerProcedure, readProcedure, router, workerProcedure } from '../trpc.ts';
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

/**
 * Changes an agent (the caller's) in one transaction; a status is a sign of
 * life, and an agent going offline hands its unclaimed work on at the next
 * sweep. The next sign of life after a status change is written at once.
 */
async function changeAgent(
  ctx: AuthedContext,
  agentId: string,
  data: { name?: string; description?: string | null; capabilities?: string[]; status?: AgentStatus; host?: string | null },
): Promise<AgentRow> {
  const now = ctx.clock.now();
  const agent = await ctx.db
    .transaction(async (db) => {
      const updated = await db.agent.update({
        where: { id: agentId, ownerId: ctx.principal.owner_id },
        data: { ...data, ...(data.status !== undefined ? { lastSeen: now } : {}) },
      });
      if (data.status === 'offline') await ctx.work.handOn(db, { assigneeId: updated.id }, now);
      return updated;
    })
    .catch((e) => explain(e, agentId, data.name));
  if (data.status !== undefined) ctx.agents.forget(agent.id);
  return agent;
}

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
              lastSeen: input.status === 'offline' ? null : ctx.clock.now(),
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
      const { agent_id, ...change } = input;
      return toAgentView(await changeAgent(ctx, agent_id, change));
    }),

  // A worker key's one change to its agents (actAs: 403 for agents it does not name), so that a worker that stops can
  // hand its agent's waiting work on; owner and admin keys may use it as well.
  presence: workerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/api/v1/agents/{agent_id}/presence',
        tags,
        summary: 'Mark an agent online or offline (offline: its waiting work moves to other agents now)',
        protect: true,
      },
    })
    .input(AgentPresence)
    .output(AgentPresenceView)
    .mutation(async ({ ctx, input }) => {
      const { id } = actAs(ctx, { kind: 'agent', id: input.agent_id });
      const agent = await changeAgent(ctx, id, { status: input.status });
      return { agent_id: agent.id, status: agent.status as AgentStatus, last_seen: agent.lastSeen?.toISOString() ?? null };
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

import { ExecuteRequest, ExecutionIdParam, ExecutionList, ExecutionListQuery, ExecutionView, IdempotentHeaders } from '@aitbc/core';
import { submitOnce } from '../idempotency.ts';
import { cancelExecution, decidedCounts, executionNotFound } from '../networks/executions.ts';
import { submitExecution } from '../networks/submit.ts';
import { toExecutionSummary, toExecutionView } from '../networks/views.ts';
import { listPage } from '../pagination.ts';
import { type AuthedContext, actorOf, ownerProcedure, readProcedure, router, submitOf } from '../trpc.ts';
import { audit } from '../audit/log.ts';
import { findNetwork } from '../networks/records.ts';

const tags = ['agent networks'];

/** Live views hear of an execution that was submitted or cancelled. */
function changed<T extends { id: string; network_id: string }>(ctx: AuthedContext, execution: T): T {
  ctx.events.publish({
    kind: 'work.changed',
    owner_id: ctx.principal.owner_id,
    network_id: execution.network_id,
    execution_id: execution.id,
  });
  return execution;
}
const base = '/api/v1/agents/networks/{network_id}';

export const executionRouter = router({
  execute: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: `${base}/execute`,
        tags,
        summary: 'Decompose a task, assign its subtasks, and queue them for the agents’ workers',
        protect: true,
        requestHeaders: IdempotentHeaders,
      },
      successStatus: 202,
    })
    .input(ExecuteRequest)
    .output(ExecutionView)
    .mutation(async ({ ctx, input }) => {
      // The execution's trace: its claims and results are spans under this one.
      const execution = await ctx.work.tracing.span('execute', { 'aitbc.network_id': input.network_id }, async (annotate) => {
        // Its writes are one statement on PostgreSQL (networks/submit.ts), its key's record among them: no transaction.
        const created = await submitOnce(
          ctx.db,
          submitOf(ctx, 'execution.execute', input),
          (db, record) => submitExecution(db, ctx.work, ctx.principal.owner_id, input, ctx.clock.now(), record),
          { oneStatement: true },
        );
        annotate({ 'aitbc.execution_id': created.id });
        return created;
      });
      return changed(ctx, execution);
    }),

  list: readProcedure
    .meta({ openapi: { method: 'GET', path: `${base}/executions`, tags, summary: 'A network’s executions, newest first', protect: true } })
    .input(ExecutionListQuery)
    .output(ExecutionList)
    .query(({ ctx, input }) =>
      ctx.db.run(async (db, sql) => {
        const network = await findNetwork(sql, ctx.principal.owner_id, input.network_id);
        const scope = { networkId: network.id, ...(input.status ? { status: input.status } : {}) };
        const { items, ...page } = await listPage(
          input,
          ({ where, ...rest }) => db.agentNetworkExecution.findMany({ where: { ...scope, ...where }, ...rest }),
          () => db.agentNetworkExecution.count({ where: scope }),
        );
        const decided = await decidedCounts(
          db,
          items.map((e) => e.id),
        );
        return { executions: items.map((e) => toExecutionSummary(e, decided.get(e.id) ?? 0)), ...page };
      }),
    ),

  get: readProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: `${base}/executions/{execution_id}`,
        tags,
        summary: 'One execution with its subtasks and results',
        protect: true,
      },
    })
    .input(ExecutionIdParam)
    .output(ExecutionView)
    .query(({ ctx, input }) =>
      ctx.db.run(async (db) => {
        const execution = await db.agentNetworkExecution.findFirst({
          where: { id: input.execution_id, networkId: input.network_id, ownerId: ctx.principal.owner_id },
        });
        if (!execution) throw executionNotFound(input.execution_id);
        const subtasks = await db.subtask.findMany({ where: { executionId: execution.id }, orderBy: [{ seq: 'asc' }, { replica: 'asc' }] });
        return toExecutionView(execution, subtasks, (await decidedCounts(db, [execution.id])).get(execution.id) ?? 0);
      }),
    ),

  cancel: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: `${base}/executions/{execution_id}/cancel`,
        tags,
        summary: 'Cancel an execution; open subtasks are withdrawn',
        protect: true,
      },
    })
    .input(ExecutionIdParam)
    .output(ExecutionView)
    .mutation(async ({ ctx, input }) => {
      const execution = await ctx.db.transaction(async (db) => {
        const cancelled = await cancelExecution(
          db,
          ctx.work,
          ctx.principal.owner_id,
          input.network_id,
          input.execution_id,
          ctx.clock.now(),
        );
        await audit(db, actorOf(ctx), {
          action: 'execution.cancel',
          owner_id: ctx.principal.owner_id,
          target_id: input.execution_id,
          detail: { network_id: input.network_id },
        });
        return cancelled;
      });
      return changed(ctx, execution);
    }),
});

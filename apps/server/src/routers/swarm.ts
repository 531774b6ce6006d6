import { z } from 'zod';
import {
  ClaimResult,
  IdempotentHeaders,
  ConsensusRequest,
  ConsensusView,
  CoordinateRequest,
  CoordinateView,
  HeartbeatBatchRequest,
  HeartbeatBatchView,
  JoinRequest,
  JoinView,
  LeaveRequest,
  LeaveView,
  LegacyConsensusRequest,
  LegacyLeaveRequest,
  ClaimBatch,
  MemberClaimBatchRequest,
  MemberClaimRequest,
  MemberHeartbeatRequest,
  MemberHeartbeatView,
  MemberView,
  SwarmId,
  SwarmList,
  SwarmListQuery,
  SwarmStatusQuery,
  SwarmStatusView,
  TaskIdParam,
  TaskStatusView,
  LIVE_TASK_STATUSES,
  TaskStatusQuery,
  actsFor,
} from '@aitbc/core';
import { listPage } from '../pagination.ts';
import { cancelTask, coordinate, findTask, requestConsensus, thresholdView } from '../swarms/coordinations.ts';
import { leaveSwarm, swarmNotFound } from '../swarms/membership.ts';
import { countsOf, swarmStatus, taskStatus, toSwarmViews } from '../swarms/records.ts';
import { type SwarmWhere, swarmFrom, swarmStatusWhere, toMemberView } from '../swarms/views.ts';
import { sql } from '../db/sql.ts';
import { longPoll } from '../work/waiters.ts';
import {
  type AuthedContext,
  actAs,
  actorOf,
  claimProcedure,
  ownerProcedure,
  readProcedure,
  router,
  submitOf,
  workerProcedure,
} from '../trpc.ts';
import { submitOnce } from '../idempotency.ts';
import { audit } from '../audit/log.ts';

const tags = ['swarms'];

/** Tell live views that a swarm, or one of its tasks, changed. */
function changed(ctx: AuthedContext, swarmId: string, taskId: string | null = null): void {
  ctx.events.publish({ kind: 'work.changed', owner_id: ctx.principal.owner_id, swarm_id: swarmId, task_id: taskId });
}

/** Leave, then tell the heartbeat caches here and on other instances. */
async function leave(ctx: AuthedContext, input: { swarm_id: string; member_id?: string | undefined }): Promise<LeaveView> {
  const left = await ctx.db.transaction(async (db) => {
    const gone = await leaveSwarm(db, ctx.work, ctx.principal.owner_id, input, ctx.clock.now());
    for (const memberId of gone.members)
      await audit(db, actorOf(ctx), {
        action: 'swarm.leave',
        owner_id: ctx.principal.owner_id,
        target_id: memberId,
        detail: { swarm_id: gone.swarm_id },
      });
    return gone;
  });
  for (const memberId of left.members) {
    ctx.heartbeats.forget(memberId);
    ctx.events.publish({ kind: 'member.left', member_id: memberId });
  }
  changed(ctx, left.swarm_id);
  return left;
}
/** GET /swarm/status without swarm_id reports this many of your newest swarms. */
const STATUS_SWARMS = 100;

/**
 * The swarm API at the spec's paths (also served under /v1) and the legacy
 * CLI's. Members join, heartbeat and leave; coordination selects members and
 * hands them work through the worker protocol; consensus is decided from the
 * results they submitted.
 */
export const swarmRouter = router({
  join: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/swarm/join',
        tags,
        summary: 'Join a swarm (yours for the capability when no swarm_id is given; one swarm holds every region)',
        protect: true,
      },
      successStatus: 201,
    })
    .input(JoinRequest)
    .output(JoinView)
    // Not one transaction: creating the open swarm may lose a race to another join, which it then joins.
    .mutation(async ({ ctx, input }) => {
      const joined = await ctx.joins.join(ctx.principal.owner_id, input, ctx.clock.now());
      ctx.heartbeats.remember(joined.member_id, { ownerId: ctx.principal.owner_id, swarmId: joined.swarm_id, left: false });
      if (input.suspect_after_seconds !== undefined || input.fail_after_seconds !== undefined) {
        ctx.heartbeats.thresholdsChanged(joined.swarm_id);
        ctx.joins.forgetSwarm(joined.swarm_id);
        ctx.events.publish({ kind: 'swarm.changed', swarm_id: joined.swarm_id });
      }
      changed(ctx, joined.swarm_id);
      return joined;
    }),

  leave: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/swarm/leave',
        tags,
        summary: 'Leave: one member, or all of yours in the swarm; their work moves on',
        protect: true,
      },
    })
    .input(LeaveRequest)
    .output(LeaveView)
    .mutation(({ ctx, input }) => leave(ctx, input)),

  leaveSwarm: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/swarm/{swarm_id}/leave',
        tags,
        summary: 'Every one of your members leaves the swarm (the legacy CLI’s form)',
        protect: true,
      },
    })
    .input(LegacyLeaveRequest)
    .output(LeaveView)
    .mutation(({ ctx, input }) => leave(ctx, input)),

  heartbeat: workerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/swarm/members/{member_id}/heartbeat',
        tags,
        summary: 'A member is alive: suspect or failed becomes active again',
        protect: true,
      },
    })
    .input(MemberHeartbeatRequest)
    .output(MemberHeartbeatView)
    .mutation(({ ctx, input }) =>
      ctx.heartbeats.beat(ctx.principal.owner_id, actAs(ctx, { kind: 'member', id: input.member_id }).id, ctx.clock.now()),
    ),

  heartbeats: workerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/swarm/heartbeats',
        tags,
        summary: 'Heartbeats of many members at once (a host running many members)',
        protect: true,
      },
    })
    .input(HeartbeatBatchRequest)
    .output(HeartbeatBatchView)
    .mutation(async ({ ctx, input }) => {
      // A worker key answers members it does not name as another owner's: not found.
      const mine = (id: string) => actsFor(ctx.principal, { kind: 'member', id });
      const named = input.member_ids.filter(mine);
      const beaten = named.length
        ? await ctx.heartbeats.beatMany(ctx.principal.owner_id, named, ctx.clock.now())
        : { accepted: 0, refused: [] };
      const outside = input.member_ids
        .filter((id) => !mine(id))
        .map((member_id) => ({ member_id, code: 'NOT_FOUND' as const, message: `Member ${member_id} is not one this key works for` }));
      return { accepted: beaten.accepted, refused: [...beaten.refused, ...outside] };
    }),

  claim: claimProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/swarm/members/{member_id}/claim',
        tags,
        summary: 'Lease the member’s next subtask (null when none waits)',
        protect: true,
      },
    })
    .input(MemberClaimRequest)
    .output(ClaimResult)
    .mutation(async ({ ctx, input, signal }) => {
      const [subtask] = await ctx.work.claim(ctx.principal.owner_id, actAs(ctx, { kind: 'member', id: input.member_id }), {
        max: 1,
        leaseSeconds: input.lease_seconds,
        waitSeconds: input.wait_seconds,
        signal,
      });
      return { subtask: subtask ?? null };
    }),

  claims: claimProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/swarm/members/{member_id}/claims',
        tags,
        summary: 'Lease up to `max` of the member’s subtasks at once; with wait_seconds, wait for work when none is waiting',
        protect: true,
      },
    })
    .input(MemberClaimBatchRequest)
    .output(ClaimBatch)
    .mutation(async ({ ctx, input, signal }) => ({
      subtasks: await ctx.work.claim(ctx.principal.owner_id, actAs(ctx, { kind: 'member', id: input.member_id }), {
        max: input.max,
        leaseSeconds: input.lease_seconds,
        waitSeconds: input.wait_seconds,
        signal,
      }),
    })),

  list: readProcedure
    .meta({ openapi: { method: 'GET', path: '/swarm/list', tags, summary: 'Your swarms with their members, newest first', protect: true } })
    .input(SwarmListQuery)
    .output(SwarmList)
    .query(({ ctx, input }) =>
      ctx.db.run(async (db) => {
        const scope: SwarmWhere = {
          ownerId: ctx.principal.owner_id,
          ...(input.swarm_id ? { id: input.swarm_id } : {}),
          ...(input.status ? swarmStatusWhere[input.status] : {}),
        };
        const { items, ...page } = await listPage(
          input,
          ({ where, ...rest }) => db.swarm.findMany({ where: { AND: [scope!, where] }, ...rest }),
          () => db.swarm.count({ where: scope }),
        );
        return { swarms: await toSwarmViews(db, items, ctx.clock.now(), input.members_limit, (m) => ctx.heartbeats.overlay(m)), ...page };
      }),
    ),

  members: readProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/swarm/{swarm_id}/members',
        tags,
        summary: 'A swarm’s members, those that left included, with health and reputation',
        protect: true,
      },
    })
    .input(z.object({ swarm_id: SwarmId }))
    .output(
      z.object({
        swarm_id: z.string(),
        members: z.array(MemberView),
        member_counts: z.object({ active: z.number(), suspect: z.number(), failed: z.number(), left: z.number() }),
      }),
    )
    .query(({ ctx, input }) =>
      ctx.db.run(async (db) => {
        const swarm = await db.swarm.findFirst({ where: { id: input.swarm_id, ownerId: ctx.principal.owner_id } });
        if (!swarm) throw swarmNotFound(input.swarm_id);
        const now = ctx.clock.now();
        const members = await db.swarmMember.findMany({
          where: { swarmId: swarm.id },
          orderBy: [{ createdAt: 'asc' }, { memberId: 'asc' }],
        });
        return {
          swarm_id: swarm.id,
          members: members.map((m) => toMemberView(ctx.heartbeats.overlay(m), now)),
          member_counts: countsOf(swarm),
        };
      }),
    ),

  status: readProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/swarm/status',
        tags,
        summary: 'Member counts, active tasks and performance metrics computed from records',
        protect: true,
      },
    })
    .input(SwarmStatusQuery)
    .output(z.array(SwarmStatusView))
    .query(({ ctx, input }) =>
      // Raw SQL: a status read is one indexed row (or 100), and Prisma's cost around it was most of the request's.
      ctx.db.run(async (_, q) => {
        const one = input.swarm_id ? sql` AND "id" = ${input.swarm_id}` : sql``;
        const rows = await q.all(
          sql`SELECT * FROM "swarms" WHERE "owner_id" = ${ctx.principal.owner_id}${one} ORDER BY "created_at" DESC, "id" DESC LIMIT ${STATUS_SWARMS}`,
        );
        if (input.swarm_id && rows.length === 0) throw swarmNotFound(input.swarm_id);
        return swarmStatus(rows.map(swarmFrom));
      }),
    ),

  coordinate: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/swarm/coordinate',
        tags,
        summary: 'Select members and hand them a task (the spec’s and the legacy body)',
        protect: true,
        requestHeaders: IdempotentHeaders,
      },
      successStatus: 202,
    })
    .input(CoordinateRequest)
    .output(CoordinateView)
    .mutation(async ({ ctx, input }) => {
      // The task's trace: its claims, results and decision are spans under this one.
      const task = await ctx.work.tracing.span('coordinate', { 'aitbc.strategy': input.strategy }, async (annotate) => {
        const created = await submitOnce(ctx.db, submitOf(ctx, 'swarm.coordinate', input), (db) =>
          coordinate(db, ctx.work, ctx.principal.owner_id, input, ctx.clock.now()),
        );
        annotate({ 'aitbc.task_id': created.task_id, 'aitbc.swarm_id': created.swarm_id });
        return created;
      });
      changed(ctx, task.swarm_id, task.task_id);
      return task;
    }),

  task: readProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/swarm/tasks/{task_id}/status',
        tags,
        summary: 'A task’s status, progress, members’ state and result',
        protect: true,
      },
    })
    .input(TaskStatusQuery)
    .output(TaskStatusView)
    .query(({ ctx, input, signal }) =>
      longPoll(
        ctx.taskWaiters,
        input.task_id,
        input.wait_seconds,
        () => ctx.db.run(async (_, db) => taskStatus(db, await findTask(db, ctx.principal.owner_id, input.task_id))),
        (view) => !LIVE_TASK_STATUSES.includes(view.status),
        signal,
      ),
    ),

  cancel: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/swarm/tasks/{task_id}/cancel',
        tags,
        summary: 'Cancel a task; its open work is withdrawn',
        protect: true,
      },
    })
    .input(TaskIdParam)
    .output(TaskStatusView)
    .mutation(({ ctx, input }) =>
      ctx.db
        .transaction(async (db) => {
          const now = ctx.clock.now();
          const c = await cancelTask(db, ctx.work, ctx.principal.owner_id, input.task_id, now);
          await audit(db, actorOf(ctx), { action: 'task.cancel', owner_id: ctx.principal.owner_id, target_id: input.task_id });
          return taskStatus(db.sql, c);
        })
        .then((view) => {
          changed(ctx, view.swarm_id, view.task_id);
          return view;
        }),
    ),

  consensus: ownerProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/swarm/consensus',
        tags,
        summary: 'The consensus of a task’s votes (pending while votes are outstanding)',
        protect: true,
      },
    })
    .input(ConsensusRequest)
    .output(ConsensusView)
    .mutation(async ({ ctx, input }) => {
      const view = await ctx.db.transaction((db) =>
        requestConsensus(db, { db: ctx.db, work: ctx.work }, ctx.principal.owner_id, input, ctx.clock.now()),
      );
      changed(ctx, view.swarm_id, view.task_id);
      return view;
    }),

  taskConsensus: readProcedure
    .meta({
      openapi: {
        method: 'POST',
        path: '/swarm/tasks/{task_id}/consensus',
        tags,
        summary: 'What a threshold vote says of a task’s votes so far (the legacy CLI’s form)',
        description:
          'Read-only: the threshold is applied to the votes for this answer and never stored, so asking cannot change how the task is decided (POST /swarm/consensus sets a task’s algorithm). A task whose members do not vote answers 200 with consensus_reached false and the reason.',
        protect: true,
      },
    })
    .input(LegacyConsensusRequest)
    .output(ConsensusView)
    .mutation(({ ctx, input }) =>
      ctx.db.run((_, db) => thresholdView(db, ctx.principal.owner_id, input.task_id, input.consensus_threshold)),
    ),
});

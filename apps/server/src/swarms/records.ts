import {
  swarmMetricsFromTotals,
  type MemberStatus,
  type SwarmMetrics,
  type SwarmStatusView,
  type SwarmStrategy,
  type SwarmView,
  type TaskStatus,
  type TaskStatusView,
  LIVE_TASK_STATUSES,
  reportedTaskStatus,
} from '@aitbc/core';
import type { PrismaTx } from '../db/client.ts';
import { inList, type Sql, sql } from '../db/sql.ts';
import { consensusView } from './coordinations.ts';
import { type CoordinationRow, iso, type MemberCounts, type MemberRow, type SwarmRow, swarmStatusOf, toMemberView } from './views.ts';

/** Members by state: the swarm's own counters. */
export function countsOf(s: SwarmRow): MemberCounts {
  return { active: s.activeMembers, suspect: s.suspectMembers, failed: s.failedMembers, left: s.leftMembers };
}

/** coordinating while tasks are queued or running, else idle. */
const coordinationStatus = (live: number) => (live > 0 ? 'coordinating' : 'idle');

/** Swarms with their members (those that have not left; at most `membersPerSwarm` each, oldest first). */
/** `latest`: a member as of its latest beat (the heartbeat buffer's overlay). */
export async function toSwarmViews(
  tx: PrismaTx,
  swarms: SwarmRow[],
  now: Date,
  membersPerSwarm: number,
  latest: (m: MemberRow) => MemberRow,
): Promise<SwarmView[]> {
  const members = await Promise.all(
    swarms.map((s) =>
      tx.swarmMember.findMany({
        where: { swarmId: s.id, status: { not: 'left' } },
        orderBy: [{ createdAt: 'asc' }, { memberId: 'asc' }],
        take: membersPerSwarm,
      }),
    ),
  );
  return swarms.map((s, i) => {
    const c = countsOf(s);
    return {
      swarm_id: s.id,
      capability: s.capability,
      status: swarmStatusOf(c),
      coordination_status: coordinationStatus(s.liveTasks),
      members: members[i]!.map((m) => toMemberView(latest(m), now)),
      member_counts: c,
      suspect_after_seconds: s.suspectAfterSeconds,
      fail_after_seconds: s.failAfterSeconds,
      created_at: s.createdAt.toISOString(),
    };
  });
}

/** A swarm's performance figures from its rolling aggregates (see stats.ts): one row, whatever its size or history. */
export function measureSwarm(s: SwarmRow): SwarmMetrics {
  return swarmMetricsFromTotals(s);
}

export function swarmStatus(swarms: SwarmRow[]): SwarmStatusView[] {
  return swarms.map((s) => {
    const c = countsOf(s);
    return {
      swarm_id: s.id,
      member_count: c.active + c.suspect + c.failed,
      member_counts: c,
      active_tasks: s.liveTasks,
      coordination_status: coordinationStatus(s.liveTasks),
      performance_metrics: measureSwarm(s),
    };
  });
}

/** Progress, per-member state and the result of one coordination task. */
export async function taskStatus(db: Sql, c: CoordinationRow): Promise<TaskStatusView> {
  const strategy = c.strategy as SwarmStrategy;
  const assigned = (c.assignedMembers as string[] | null) ?? [];
  const [subtasks, members] = await Promise.all([
    db.all<{ assignee_id: string | null; status: string }>(sql`
      SELECT "assignee_id", "status" FROM "subtasks" WHERE "coordination_id" = ${c.id} ORDER BY "seq", "replica"`),
    db.all<{ member_id: string; status: string }>(
      sql`SELECT "member_id", "status" FROM "swarm_members" WHERE "member_id" ${inList(assigned)}`,
    ),
  ]);
  const membership = new Map(members.map((m) => [m.member_id, m.status as MemberStatus]));
  const voting = strategy === 'broadcast' || strategy === 'consensus';
  const settled = (s: { status: string }) => s.status === 'completed' || s.status === 'failed';
  // Voting tasks progress by votes in; the others by subtasks decided.
  const progress = voting
    ? c.collaborators > 0
      ? (subtasks.filter(settled).length / Math.max(c.collaborators, subtasks.filter((s) => s.status !== 'cancelled').length)) * 100
      : 0
    : c.subtaskCount > 0
      ? (c.decidedCount / c.subtaskCount) * 100
      : 0;
  const finished = !LIVE_TASK_STATUSES.includes(c.status);
  return {
    task_id: c.taskId,
    swarm_id: c.swarmId,
    strategy,
    ...reportedTaskStatus(c.status as TaskStatus),
    progress: c.status === 'completed' ? 100 : Math.min(100, Math.round(progress * 10) / 10),
    active_collaborators: assigned.filter((id) => membership.get(id) === 'active').length,
    total_collaborators: assigned.length,
    members: assigned.map((id) => {
      const own = subtasks.filter((s) => s.assignee_id === id);
      const state = own.some((s) => s.status === 'leased')
        ? 'working'
        : own.some((s) => s.status === 'assigned' || s.status === 'pending')
          ? 'assigned'
          : own.some((s) => s.status === 'completed')
            ? 'done'
            : own.some((s) => s.status === 'failed')
              ? 'failed'
              : own.length > 0 && own.every((s) => s.status === 'cancelled')
                ? 'cancelled'
                : 'reassigned';
      return {
        member_id: id,
        membership: membership.get(id) ?? null,
        state,
        subtasks: own.length,
        completed: own.filter((s) => s.status === 'completed').length,
      };
    }),
    leader: c.leader,
    ...(c.results !== null || (finished && c.status === 'completed') ? { result: c.results } : {}),
    consensus: voting ? await consensusView(db, c) : null,
    error: c.error,
    created_at: c.createdAt.toISOString(),
    started_at: iso(c.startedAt),
    completed_at: iso(c.completedAt),
    deadline_at: iso(c.deadlineAt),
  };
}

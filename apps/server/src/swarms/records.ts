import {
  computeSwarmMetrics,
  type MemberStatus,
  type SwarmMetrics,
  type SwarmStatusView,
  type SwarmStrategy,
  type SwarmView,
  type TaskStatus,
  type TaskStatusView,
} from '@aitbc/core';
import type { PrismaTx } from '../db/client.ts';
import { consensusView } from './coordinations.ts';
import { type CoordinationRow, emptyCounts, iso, type MemberCounts, type SwarmRow, swarmStatusOf, toMemberView } from './views.ts';

/** The most recent attempts and tasks the figures are computed from (bounded, so status costs the same at any history size). */
const ATTEMPT_SAMPLE = 2000;
const TASK_SAMPLE = 1000;
const LIVE_TASK = ['queued', 'running'];

/** Members of each swarm by state. */
export async function memberCounts(tx: PrismaTx, swarmIds: string[]): Promise<Map<string, MemberCounts>> {
  const groups = await tx.swarmMember.groupBy({ by: ['swarmId', 'status'], where: { swarmId: { in: swarmIds } }, _count: { _all: true } });
  const counts = new Map(swarmIds.map((id) => [id, emptyCounts()]));
  for (const g of groups) {
    const c = counts.get(g.swarmId);
    if (c && g.status in c) c[g.status as MemberStatus] = g._count._all;
  }
  return counts;
}

async function activeTasks(tx: PrismaTx, swarmIds: string[]): Promise<Map<string, number>> {
  const groups = await tx.swarmCoordination.groupBy({ by: ['swarmId'], where: { swarmId: { in: swarmIds }, status: { in: LIVE_TASK } }, _count: { _all: true } });
  return new Map(groups.map((g) => [g.swarmId, g._count._all]));
}

/** coordinating while tasks are queued or running, else idle. */
const coordinationStatus = (active: number) => (active > 0 ? 'coordinating' : 'idle');

export async function toSwarmViews(tx: PrismaTx, swarms: SwarmRow[], now: Date): Promise<SwarmView[]> {
  const ids = swarms.map((s) => s.id);
  const [counts, active, members] = await Promise.all([
    memberCounts(tx, ids),
    activeTasks(tx, ids),
    tx.swarmMember.findMany({ where: { swarmId: { in: ids }, status: { not: 'left' } }, orderBy: [{ createdAt: 'asc' }, { memberId: 'asc' }] }),
  ]);
  return swarms.map((s) => {
    const c = counts.get(s.id) ?? emptyCounts();
    return {
      swarm_id: s.id,
      capability: s.capability,
      region: s.region,
      status: swarmStatusOf(c),
      coordination_status: coordinationStatus(active.get(s.id) ?? 0),
      members: members.filter((m) => m.swarmId === s.id).map((m) => toMemberView(m, now)),
      member_counts: c,
      suspect_after_seconds: s.suspectAfterSeconds,
      fail_after_seconds: s.failAfterSeconds,
      created_at: s.createdAt.toISOString(),
    };
  });
}

/** A swarm's performance figures from its recorded attempts and tasks. */
export async function measureSwarm(tx: PrismaTx, swarmId: string): Promise<SwarmMetrics> {
  const [attempts, tasks] = await Promise.all([
    tx.subtaskAttempt.findMany({
      where: { swarmId, outcome: { not: 'cancelled' } },
      orderBy: { startedAt: 'desc' },
      take: ATTEMPT_SAMPLE,
      select: { subtaskId: true, outcome: true, startedAt: true, endedAt: true },
    }),
    tx.swarmCoordination.findMany({ where: { swarmId }, orderBy: { createdAt: 'desc' }, take: TASK_SAMPLE, select: { status: true } }),
  ]);
  const completed = attempts.filter((a) => a.outcome === 'completed').map((a) => a.subtaskId);
  const acceptedResults = completed.length ? await tx.subtask.count({ where: { id: { in: completed }, accepted: true } }) : 0;
  return computeSwarmMetrics({
    attempts: attempts.map((a) => ({ outcome: a.outcome as 'open' | 'completed' | 'failed' | 'expired', startedAt: a.startedAt, endedAt: a.endedAt })),
    tasks: tasks.map((t) => ({ status: t.status as TaskStatus })),
    acceptedResults,
  });
}

export async function swarmStatus(tx: PrismaTx, swarms: SwarmRow[]): Promise<SwarmStatusView[]> {
  const ids = swarms.map((s) => s.id);
  const [counts, active] = await Promise.all([memberCounts(tx, ids), activeTasks(tx, ids)]);
  return Promise.all(
    swarms.map(async (s) => {
      const c = counts.get(s.id) ?? emptyCounts();
      const tasks = active.get(s.id) ?? 0;
      return {
        swarm_id: s.id,
        member_count: c.active + c.suspect + c.failed,
        member_counts: c,
        active_tasks: tasks,
        coordination_status: coordinationStatus(tasks),
        performance_metrics: await measureSwarm(tx, s.id),
      };
    }),
  );
}

/** Progress, per-member state and the result of one coordination task. */
export async function taskStatus(tx: PrismaTx, c: CoordinationRow): Promise<TaskStatusView> {
  const strategy = c.strategy as SwarmStrategy;
  const subtasks = await tx.subtask.findMany({ where: { coordinationId: c.id }, orderBy: [{ seq: 'asc' }, { replica: 'asc' }] });
  const assigned = (c.assignedMembers as string[] | null) ?? [];
  const members = await tx.swarmMember.findMany({ where: { memberId: { in: assigned } }, select: { memberId: true, status: true } });
  const membership = new Map(members.map((m) => [m.memberId, m.status as MemberStatus]));
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
  const finished = !LIVE_TASK.includes(c.status);
  return {
    task_id: c.taskId,
    swarm_id: c.swarmId,
    strategy,
    status: c.status as TaskStatus,
    progress: c.status === 'completed' ? 100 : Math.min(100, Math.round(progress * 10) / 10),
    active_collaborators: assigned.filter((id) => membership.get(id) === 'active').length,
    total_collaborators: assigned.length,
    members: assigned.map((id) => {
      const own = subtasks.filter((s) => s.assigneeId === id);
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
      return { member_id: id, membership: membership.get(id) ?? null, state, subtasks: own.length, completed: own.filter((s) => s.status === 'completed').length };
    }),
    leader: c.leader,
    ...(c.results !== null || (finished && c.status === 'completed') ? { result: c.results } : {}),
    consensus: voting ? await consensusView(tx, c) : null,
    error: c.error,
    created_at: c.createdAt.toISOString(),
    started_at: iso(c.startedAt),
    completed_at: iso(c.completedAt),
    deadline_at: iso(c.deadlineAt),
  };
}

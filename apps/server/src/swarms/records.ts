// Swarm reads that query the database: status, task status, swarm listings.
// (views.ts maps rows to views and reads nothing.)
import {
  speculationView,
  swarmMetricsFromTotals,
  verificationView,
  type MemberStatus,
  type SwarmMetrics,
  type SwarmStatusView,
  type SwarmStrategy,
  type SwarmView,
  type TaskStatus,
  type TaskStatusView,
  type TaskVerificationView,
  type VerificationSettings,
  LIVE_TASK_STATUSES,
  memberWorkState,
  reportedTaskStatus,
  taskProgress,
  VOTING_STRATEGIES,
} from '@aitbc/core';
import type { PrismaTx } from '../db/client.ts';
import { flag, inList, type Sql, sql } from '../db/sql.ts';
import { consensusView } from './coordinations.ts';
import { subtasksVerification, validationOf } from '../verification/views.ts';
import { taskPolicy } from './verified.ts';
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
      verification: verificationView(null, {
        validated: s.verifyValidated,
        inconclusive: s.verifyInconclusive,
        pending: null,
        results: s.verifyResults,
        replicas: s.verifyReplicas,
        invalid: s.verifyInvalid,
      }),
    };
  });
}

/** Progress, per-member state and the result of one coordination task. */
export async function taskStatus(db: Sql, c: CoordinationRow): Promise<TaskStatusView> {
  const strategy = c.strategy as SwarmStrategy;
  const assigned = (c.assignedMembers as string[] | null) ?? [];
  const policy = taskPolicy(c);
  const [subtasks, members] = await Promise.all([
    db.all<{
      assignee_id: string | null;
      status: string;
      seq: unknown;
      replica: unknown;
      accepted: unknown;
      validation: string | null;
    }>(sql`
      SELECT "assignee_id", "status", "seq", "replica", "accepted", "validation" FROM "subtasks"
      WHERE "coordination_id" = ${c.id} ORDER BY "seq", "replica"`),
    db.all<{ member_id: string; status: string }>(
      sql`SELECT "member_id", "status" FROM "swarm_members" WHERE "member_id" ${inList(assigned)}`,
    ),
  ]);
  const membership = new Map(members.map((m) => [m.member_id, m.status as MemberStatus]));
  const voting = VOTING_STRATEGIES.includes(strategy);
  const finished = !LIVE_TASK_STATUSES.includes(c.status);
  return {
    task_id: c.taskId,
    swarm_id: c.swarmId,
    strategy,
    ...reportedTaskStatus(c.status as TaskStatus),
    progress: taskProgress(
      {
        strategy,
        status: c.status as TaskStatus,
        collaborators: c.collaborators,
        subtaskCount: c.subtaskCount,
        decidedCount: c.decidedCount,
      },
      subtasks.map((s) => s.status),
    ),
    active_collaborators: assigned.filter((id) => membership.get(id) === 'active').length,
    total_collaborators: assigned.length,
    members: assigned.map((id) => {
      const own = subtasks.filter((s) => s.assignee_id === id);
      const state = memberWorkState(own.map((s) => s.status));
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
    speculation: speculationView(c),
    verification: policy ? taskVerification(policy, subtasks) : null,
    created_at: c.createdAt.toISOString(),
    started_at: iso(c.startedAt),
    completed_at: iso(c.completedAt),
    deadline_at: iso(c.deadlineAt),
  };
}

/** A verified task's verification: what it cost and caught, and every copy's validation. */
function taskVerification(
  policy: VerificationSettings,
  subtasks: { assignee_id: string | null; status: string; seq: unknown; replica: unknown; accepted: unknown; validation: string | null }[],
): TaskVerificationView {
  const copies = subtasks.map((s) => ({
    seq: Number(s.seq),
    replica: Number(s.replica),
    member_id: s.assignee_id,
    status: s.status,
    accepted: flag(s.accepted),
    validation: s.validation,
  }));
  return {
    ...subtasksVerification(policy, copies),
    copies: copies.map((s) => ({ seq: s.seq, replica: s.replica, member_id: s.member_id, status: s.status, ...validationOf(s) })),
  };
}

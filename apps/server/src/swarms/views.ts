// Swarm rows and their views: decoding raw rows and mapping them to the API's
// shapes, with no I/O. (records.ts holds the queries.)
import type { MemberCandidate, MemberPriority, MemberStatus, MemberView, SwarmView } from '@aitbc/core';
import type { PrismaTx } from '../db/client.ts';
import { fromJson, time } from '../db/sql.ts';

export type SwarmRow = NonNullable<Awaited<ReturnType<PrismaTx['swarm']['findFirst']>>>;
export type MemberRow = NonNullable<Awaited<ReturnType<PrismaTx['swarmMember']['findFirst']>>>;
export type CoordinationRow = NonNullable<Awaited<ReturnType<PrismaTx['swarmCoordination']['findFirst']>>>;

export const iso = (d: Date | null): string | null => d?.toISOString() ?? null;
const num = (v: unknown) => Number(v ?? 0);
const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export function toMemberView(m: MemberRow, now: Date): MemberView {
  return {
    member_id: m.memberId,
    swarm_id: m.swarmId,
    role: m.role,
    capability: m.capability,
    region: m.region,
    priority: m.priority as MemberPriority,
    host: m.host,
    status: m.status as MemberStatus,
    reputation: m.reputation,
    joined_at: m.createdAt.toISOString(),
    last_heartbeat_at: iso(m.lastHeartbeatAt),
    seconds_since_heartbeat:
      m.lastHeartbeatAt && m.status !== 'left' ? Math.max(0, (now.getTime() - m.lastHeartbeatAt.getTime()) / 1000) : null,
    left_at: iso(m.leftAt),
  };
}

export type MemberCounts = Record<MemberStatus, number>;

export function emptyCounts(): MemberCounts {
  return { active: 0, suspect: 0, failed: 0, left: 0 };
}

/** active: some member is active; degraded: members, none active; empty: every member left. */
export function swarmStatusOf(counts: MemberCounts): SwarmView['status'] {
  if (counts.active > 0) return 'active';
  return counts.suspect + counts.failed > 0 ? 'degraded' : 'empty';
}

export type SwarmWhere = NonNullable<Parameters<PrismaTx['swarm']['findMany']>[0]>['where'];

/** swarmStatusOf's rule as a filter on the member counts, for listing swarms by status: keep the two together. */
export const swarmStatusWhere: Record<SwarmView['status'], SwarmWhere> = {
  active: { activeMembers: { gt: 0 } },
  degraded: { activeMembers: 0, OR: [{ suspectMembers: { gt: 0 } }, { failedMembers: { gt: 0 } }] },
  empty: { activeMembers: 0, suspectMembers: 0, failedMembers: 0 },
};

export function toCandidate(m: MemberRow, load: number): MemberCandidate {
  return {
    memberId: m.memberId,
    swarmId: m.swarmId,
    role: m.role,
    capability: m.capability,
    region: m.region,
    priority: m.priority as MemberPriority,
    status: m.status as MemberStatus,
    reputation: m.reputation,
    load,
    host: m.host,
  };
}

/** A swarms row read with raw SQL, as Prisma would have returned it. */
export function swarmFrom(r: Record<string, unknown>): SwarmRow {
  const n = num;
  return {
    id: r.id as string,
    ownerId: r.owner_id as string,
    capability: r.capability as string,
    status: r.status as string,
    openKey: (r.open_key as string | null) ?? null,
    suspectAfterSeconds: n(r.suspect_after_seconds),
    failAfterSeconds: n(r.fail_after_seconds),
    activeMembers: n(r.active_members),
    suspectMembers: n(r.suspect_members),
    failedMembers: n(r.failed_members),
    leftMembers: n(r.left_members),
    liveTasks: n(r.live_tasks),
    tasksCompleted: n(r.tasks_completed),
    tasksFailed: n(r.tasks_failed),
    tasksTimedOut: n(r.tasks_timed_out),
    attemptsCompleted: n(r.attempts_completed),
    attemptsFailed: n(r.attempts_failed),
    attemptsExpired: n(r.attempts_expired),
    taskSeconds: n(r.task_seconds),
    acceptedResults: n(r.accepted_results),
    verifyValidated: n(r.verify_validated),
    verifyInconclusive: n(r.verify_inconclusive),
    verifyResults: n(r.verify_results),
    verifyReplicas: n(r.verify_replicas),
    verifyInvalid: n(r.verify_invalid),
    createdAt: time(r.created_at),
    updatedAt: time(r.updated_at),
  } satisfies Record<keyof SwarmRow, unknown> as SwarmRow;
}

/** A swarm_members row read with raw SQL, as Prisma would have returned it. */
export function memberFrom(r: Record<string, unknown>): MemberRow {
  return {
    id: r.id as string,
    swarmId: r.swarm_id as string,
    memberId: r.member_id as string,
    role: r.role as string,
    capability: r.capability as string,
    region: (r.region as string | null) ?? null,
    priority: r.priority as string,
    status: r.status as string,
    ownerId: r.owner_id as string,
    reputation: num(r.reputation),
    host: (r.host as string | null) ?? null,
    lastHeartbeatAt: time(r.last_heartbeat_at),
    suspectAt: time(r.suspect_at),
    failAt: time(r.fail_at),
    createdAt: time(r.created_at),
    updatedAt: time(r.updated_at),
    leftAt: time(r.left_at),
  } satisfies Record<keyof MemberRow, unknown> as MemberRow;
}

/** A swarm_coordination row read with raw SQL, as Prisma would have returned it. */
export function coordinationFrom(r: Record<string, unknown>): CoordinationRow {
  return {
    id: r.id as string,
    taskId: r.task_id as string,
    swarmId: r.swarm_id as string,
    ownerId: r.owner_id as string,
    strategy: r.strategy as string,
    task: fromJson(r.task),
    parameters: fromJson(r.parameters),
    status: r.status as string,
    assignedMembers: fromJson(r.assigned_members),
    collaborators: num(r.collaborators),
    leaseSeconds: num(r.lease_seconds),
    maxAttempts: num(r.max_attempts),
    leader: (r.leader as string | null) ?? null,
    results: fromJson(r.results),
    error: (r.error as string | null) ?? null,
    consensusAlgorithm: (r.consensus_algorithm as string | null) ?? null,
    consensusThreshold: numOrNull(r.consensus_threshold),
    consensus: fromJson(r.consensus),
    confidenceScore: numOrNull(r.confidence_score),
    consensusReachedAt: time(r.consensus_reached_at),
    timeoutSeconds: numOrNull(r.timeout_seconds),
    deadlineAt: time(r.deadline_at),
    subtaskCount: num(r.subtask_count),
    decidedCount: num(r.decided_count),
    backupsLaunched: num(r.backups_launched),
    backupsWon: num(r.backups_won),
    backupSecondsSaved: num(r.backup_seconds_saved),
    startedAt: time(r.started_at),
    completedAt: time(r.completed_at),
    createdAt: time(r.created_at),
    updatedAt: time(r.updated_at),
    traceParent: (r.trace_parent as string | null) ?? null,
  } satisfies Record<keyof CoordinationRow, unknown> as CoordinationRow;
}

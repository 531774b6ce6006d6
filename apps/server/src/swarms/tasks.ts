/**
 * A swarm task's rows and the helpers every part of coordination shares:
 * reading and locking a task, its subtasks' rows, ending it, and who may
 * take a copy of its work next.
 */
import { randomUUID } from 'node:crypto';
import {
  type ConsensusDecision,
  type CoordinationParameters,
  DEFAULT_RETRY_SETTINGS,
  electLeader,
  rankMembers,
  type SelectionCriteria,
  type SwarmStrategy,
  VOTING_STRATEGIES,
} from '@aitbc/core';
import type { Tx } from '../db/database.ts';
import { inList, join, json, type Sql, sql } from '../db/sql.ts';
import { taskEnded } from '../stats.ts';
import type { WorkEngine } from '../work/engine.ts';
import type { NewSubtask } from '../work/sql/insert.ts';
import { OPEN_STATES, type SubtaskRow } from '../work/subtasks.ts';
import { lockLiveParent } from '../work/parent.ts';
import { candidateWindow, memberCandidates } from './membership.ts';
import { type CoordinationRow, coordinationFrom } from './views.ts';
import { type DomainError, notFound } from '../errors.ts';
import { later } from '../clock.ts';

export function taskNotFound(taskId: string): DomainError {
  return notFound(`Task ${taskId} not found`);
}

export const paramsOf = (c: CoordinationRow) => (c.parameters ?? {}) as CoordinationParameters;
export const strategyOf = (c: CoordinationRow) => c.strategy as SwarmStrategy;
export const membersOf = (c: CoordinationRow) => (c.assignedMembers as string[] | null) ?? [];
export const isVoting = (c: CoordinationRow) => VOTING_STRATEGIES.includes(strategyOf(c));

export function criteriaOf(parameters: CoordinationParameters, collaborators: number): SelectionCriteria {
  return { capability: parameters.capability, region: parameters.region, role: parameters.role, collaborators };
}

export async function findTask(db: Sql, ownerId: string, taskId: string): Promise<CoordinationRow> {
  const row = await db.one(sql`SELECT * FROM "swarm_coordination" WHERE "owner_id" = ${ownerId} AND "task_id" = ${taskId}`);
  if (!row) throw taskNotFound(taskId);
  return coordinationFrom(row);
}

export async function readTask(db: Sql, id: string): Promise<CoordinationRow | null> {
  const row = await db.one(sql`SELECT * FROM "swarm_coordination" WHERE "id" = ${id}`);
  return row ? coordinationFrom(row) : null;
}

/** A task's subtasks still pending, assigned or leased. */
export async function openSubtasks(db: Sql, coordinationId: string): Promise<number> {
  const row = await db.one<{ n: unknown }>(sql`
    SELECT COUNT(*) AS "n" FROM "subtasks" WHERE "coordination_id" = ${coordinationId} AND "status" ${inList(OPEN_STATES)}`);
  return Number(row?.n ?? 0);
}

export function subtaskRow(c: CoordinationRow, seq: number, replica: number, memberId: string, payload: unknown, now: Date): NewSubtask {
  return {
    id: randomUUID(),
    ownerId: c.ownerId,
    networkId: null,
    executionId: null,
    coordinationId: c.id,
    swarmId: c.swarmId,
    seq,
    replica,
    payload,
    requires: null,
    priorityRank: 1,
    assigneeId: memberId,
    // A task's claim window is its lease length.
    claimBy: later(now, c.leaseSeconds),
    maxAttempts: c.maxAttempts,
    leaseSeconds: c.leaseSeconds,
    maxAttemptSeconds: paramsOf(c).max_attempt_seconds ?? DEFAULT_RETRY_SETTINGS.max_attempt_seconds,
    createdAt: now,
  };
}

/** Lock the task for settling; null when it takes no more results. */
export async function lockTask(tx: Pick<Tx, 'sql'>, id: string, now: Date): Promise<CoordinationRow | null> {
  const row = await lockLiveParent(tx.sql, 'swarm_coordination', id, now);
  return row ? coordinationFrom(row) : null;
}

export interface Outcome {
  results?: unknown;
  error?: string | null;
  /** A voting task's decision. */
  decision?: ConsensusDecision;
}

export async function finish(
  tx: Tx,
  work: WorkEngine,
  c: CoordinationRow,
  status: 'completed' | 'failed' | 'timed_out' | 'cancelled',
  outcome: Outcome,
  now: Date,
): Promise<void> {
  await work.cancelOpen(tx, { coordinationId: c.id }, null, now);
  await taskEnded(tx, c.swarmId, status);
  const { decision } = outcome;
  const set = [
    sql`"status" = ${status}`,
    sql`"completed_at" = ${now}`,
    sql`"updated_at" = ${now}`,
    ...(outcome.results !== undefined ? [sql`"results" = ${json(outcome.results)}`] : []),
    ...(outcome.error !== undefined ? [sql`"error" = ${outcome.error}`] : []),
    ...(decision ? [sql`"consensus" = ${json(decision)}`, sql`"confidence_score" = ${decision.confidence}`] : []),
    ...(decision?.state === 'reached' ? [sql`"consensus_reached_at" = ${now}`, sql`"decided_count" = 1`] : []),
  ];
  await tx.sql.run(sql`UPDATE "swarm_coordination" SET ${join(set)} WHERE "id" = ${c.id}`);
  // Whatever ended it (a vote, a failure, its deadline in the sweep, a cancel): its waiters and its owner's views hear it.
  tx.afterCommit(() => work.announce({ owner_id: c.ownerId, swarm_id: c.swarmId, task_id: c.taskId }));
  tx.afterCommit(() =>
    work.traceTasks(decision ? 'consensus' : 'task ended', 'coordination', [c.id], now, () => ({
      'aitbc.task.status': status,
      ...(decision ? { 'aitbc.consensus.state': decision.state, 'aitbc.consensus.confidence': decision.confidence } : {}),
    })),
  );
}

/**
 * The eligible members that could take a replica now, best first: holders of its sibling replicas excluded, and
 * members on their hosts (README "Verification").
 */
export async function replacements(db: Sql, c: CoordinationRow, s: Pick<SubtaskRow, 'id' | 'seq'>): Promise<string[]> {
  const siblings = await db.all<{ assignee_id: string | null; host: string | null }>(sql`
    SELECT s."assignee_id", m."host" FROM "subtasks" s LEFT JOIN "swarm_members" m ON m."member_id" = s."assignee_id"
    WHERE s."coordination_id" = ${c.id} AND s."seq" = ${s.seq} AND s."id" <> ${s.id} AND s."status" <> 'cancelled'`);
  const taken = new Set(siblings.map((x) => x.assignee_id));
  const hosts = new Set(siblings.flatMap((x) => (x.host ? [x.host] : [])));
  const criteria = criteriaOf(paramsOf(c), 1);
  const eligible = (await memberCandidates(db, c.ownerId, c.swarmId, criteria, candidateWindow(taken.size + 1))).filter(
    (m) =>
      m.status === 'active' &&
      !taken.has(m.memberId) &&
      !(m.host && hosts.has(m.host)) &&
      (!criteria.capability || m.capability === criteria.capability) &&
      (!criteria.region || m.region === criteria.region) &&
      (!criteria.role || m.role === criteria.role),
  );
  if (strategyOf(c) === 'leader-election') {
    const leader = electLeader(eligible, []);
    return leader ? [leader.memberId, ...rankMembers(eligible.filter((m) => m !== leader)).map((m) => m.memberId)] : [];
  }
  return rankMembers(eligible).map((m) => m.memberId);
}

export async function reassignMember(tx: Tx, c: CoordinationRow, s: SubtaskRow, avoid: string[], now: Date): Promise<string | null> {
  // Another member is preferred; the one it came from (still active, e.g. its lease ran out in
  // a restart) takes it back rather than let it fail while nobody else can.
  const eligible = await replacements(tx.sql, c, s);
  const ranked = [...eligible.filter((id) => !avoid.includes(id)), ...eligible.filter((id) => avoid.includes(id))];
  let next: string | null = null;
  for (const id of ranked) {
    // Take the member's row lock while it is still active: a member leaving (or
    // failing) at this moment in another transaction cannot be handed work it
    // would never see; once that transaction commits, this one skips it.
    const still = await tx.sql.run(sql`UPDATE "swarm_members" SET "updated_at" = ${now} WHERE "member_id" = ${id} AND "status" = 'active'`);
    if (still === 1) {
      next = id;
      break;
    }
  }
  if (!next) return null;
  const assigned = membersOf(c);
  const set = [
    sql`"updated_at" = ${now}`,
    ...(assigned.includes(next) ? [] : [sql`"assigned_members" = ${json([...assigned, next])}`]),
    ...(strategyOf(c) === 'leader-election' ? [sql`"leader" = ${next}`] : []),
  ];
  await tx.sql.run(sql`UPDATE "swarm_coordination" SET ${join(set)} WHERE "id" = ${c.id}`);
  return next;
}

/** The host labels of these members (those that have one). */
export async function memberHosts(db: Sql, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db.all<{ member_id: string; host: string }>(
    sql`SELECT "member_id", "host" FROM "swarm_members" WHERE "member_id" ${inList(ids)} AND "host" IS NOT NULL`,
  );
  return new Map(rows.map((r) => [r.member_id, r.host]));
}

import { randomUUID } from 'node:crypto';
import {
  canonicalJson,
  chooseSwarm,
  type ConsensusAlgorithm,
  type ConsensusDecision,
  type CoordinateView,
  type CoordinationParameters,
  type ConsensusView,
  DEFAULT_COLLABORATORS,
  DEFAULT_CONSENSUS_THRESHOLD,
  decideConsensus,
  electLeader,
  comparedValue,
  LEGACY_SWARM_STRATEGIES,
  type MemberPriority,
  planCoordination,
  rankMembers,
  reputationChanges,
  type SelectionCriteria,
  selectMembers,
  stageMember,
  stagePayload,
  type SwarmStrategy,
  type TaskStatus,
  tallyVotes,
  VOTING_STRATEGIES,
  DEFAULT_RETRY_SETTINGS,
  DEFAULT_STRAGGLER_SETTINGS,
  type StragglerSettings,
  type Vote,
  LIVE_TASK_STATUSES,
  reportedTaskStatus,
  taskResults,
  votePreview,
} from '@aitbc/core';
import type { Database, Tx } from '../db/database.ts';
import { fromJson, inList, join, json, raw, type Sql, sql } from '../db/sql.ts';
import { resultsAccepted, taskEnded, taskStarted } from '../stats.ts';
import { lockSwarm } from './lock.ts';
import { resultKey, type WorkEngine } from '../work/engine.ts';
import type { NewSubtask } from '../work/sql/insert.ts';
import { OPEN_STATES, type SubtaskRow } from '../work/subtasks.ts';
import {
  type Assignment,
  type BackupCounts,
  countBackups,
  type EndedAttempt,
  lockLiveParent,
  type OpenParent,
  type ParentDescription,
  type Takeable,
  readTraceParents,
  type WorkParent,
} from '../work/parent.ts';
import { candidateWindow, memberCandidates, swarmNotFound } from './membership.ts';
import { type CoordinationRow, coordinationFrom, iso } from './views.ts';
import { conflict, type DomainError, notFound } from '../errors.ts';
import { later } from '../clock.ts';

const DEFAULT_TIMEOUT_SECONDS = 3600;
const DEADLINE_BATCH = 100;

export function taskNotFound(taskId: string): DomainError {
  return notFound(`Task ${taskId} not found`);
}

const paramsOf = (c: CoordinationRow) => (c.parameters ?? {}) as CoordinationParameters;
const strategyOf = (c: CoordinationRow) => c.strategy as SwarmStrategy;
const membersOf = (c: CoordinationRow) => (c.assignedMembers as string[] | null) ?? [];
const isVoting = (c: CoordinationRow) => VOTING_STRATEGIES.includes(strategyOf(c));

function criteriaOf(parameters: CoordinationParameters, collaborators: number): SelectionCriteria {
  return { capability: parameters.capability, region: parameters.region, role: parameters.role, collaborators };
}

/** A vote's key (equal compared values, equal keys) and preview. */
function voteKey(value: unknown): { hash: string; preview: string } {
  return { hash: resultKey(value), preview: votePreview(canonicalJson(value)) };
}

export async function findTask(db: Sql, ownerId: string, taskId: string): Promise<CoordinationRow> {
  const row = await db.one(sql`SELECT * FROM "swarm_coordination" WHERE "owner_id" = ${ownerId} AND "task_id" = ${taskId}`);
  if (!row) throw taskNotFound(taskId);
  return coordinationFrom(row);
}

async function readTask(db: Sql, id: string): Promise<CoordinationRow | null> {
  const row = await db.one(sql`SELECT * FROM "swarm_coordination" WHERE "id" = ${id}`);
  return row ? coordinationFrom(row) : null;
}

/** A task's subtasks still pending, assigned or leased. */
async function openSubtasks(db: Sql, coordinationId: string): Promise<number> {
  const row = await db.one<{ n: unknown }>(sql`
    SELECT COUNT(*) AS "n" FROM "subtasks" WHERE "coordination_id" = ${coordinationId} AND "status" ${inList(OPEN_STATES)}`);
  return Number(row?.n ?? 0);
}

/** Stores a new task; false when the owner already has one with its task_id. */
async function insertTask(db: Sql, c: CoordinationRow): Promise<boolean> {
  const inserted = await db.run(sql`
    INSERT INTO "swarm_coordination" ("id", "task_id", "swarm_id", "owner_id", "strategy", "task", "parameters", "status",
      "assigned_members", "collaborators", "lease_seconds", "max_attempts", "leader", "consensus_algorithm", "consensus_threshold",
      "timeout_seconds", "deadline_at", "subtask_count", "decided_count", "created_at", "updated_at", "trace_parent")
    VALUES (${c.id}, ${c.taskId}, ${c.swarmId}, ${c.ownerId}, ${c.strategy}, ${c.task === undefined ? null : json(c.task)},
      ${json(c.parameters)}, ${c.status}, ${json(c.assignedMembers)}, ${c.collaborators}, ${c.leaseSeconds}, ${c.maxAttempts},
      ${c.leader}, ${c.consensusAlgorithm}, ${c.consensusThreshold}, ${c.timeoutSeconds}, ${c.deadlineAt}, ${c.subtaskCount},
      ${c.decidedCount}, ${c.createdAt}, ${c.updatedAt}, ${c.traceParent})
    ON CONFLICT ("owner_id", "task_id") DO NOTHING`);
  return inserted === 1;
}

export function toCoordinateView(c: CoordinationRow): CoordinateView {
  return {
    task_id: c.taskId,
    swarm_id: c.swarmId,
    coordination_strategy: strategyOf(c),
    ...reportedTaskStatus(c.status as TaskStatus),
    assigned_members: membersOf(c),
    collaborators: c.collaborators,
    consensus_algorithm: (c.consensusAlgorithm as ConsensusAlgorithm | null) ?? null,
    subtasks: c.subtaskCount,
    deadline_at: iso(c.deadlineAt),
    started_at: c.createdAt.toISOString(),
  };
}

export interface CoordinateInput {
  task_id?: string | undefined;
  swarm_id?: string | undefined;
  strategy: SwarmStrategy;
  parameters: CoordinationParameters;
  task?: unknown;
  collaborators?: number | undefined;
  timeout_seconds?: number | undefined;
}

/**
 * Select members, plan their work by the strategy, and store the task with
 * its subtasks at once. Too few eligible members is a 409 naming what is missing.
 */
export async function coordinate(tx: Tx, work: WorkEngine, ownerId: string, input: CoordinateInput, now: Date): Promise<CoordinateView> {
  const { strategy, parameters } = input;
  const legacy = (LEGACY_SWARM_STRATEGIES as readonly string[]).includes(strategy);
  const collaborators =
    input.collaborators ?? parameters.collaborators ?? (legacy ? DEFAULT_COLLABORATORS.legacy : DEFAULT_COLLABORATORS.spec);
  const criteria = criteriaOf(parameters, collaborators);
  if (input.swarm_id && !(await tx.sql.one(sql`SELECT 1 FROM "swarms" WHERE "id" = ${input.swarm_id} AND "owner_id" = ${ownerId}`)))
    throw swarmNotFound(input.swarm_id);
  const window = candidateWindow(collaborators);
  // The members are read under their swarm's lock, as leaving and failing take it: a member that leaves meanwhile is
  // either gone when they are read, or still there when the task's work is stored, and its leave hands that work on.
  if (input.swarm_id) await lockSwarm(tx, input.swarm_id);
  let candidates = await memberCandidates(tx.sql, ownerId, input.swarm_id, criteria, window);
  const swarmId = input.swarm_id ?? chooseSwarm(candidates, criteria);
  if (swarmId && !input.swarm_id) {
    await lockSwarm(tx, swarmId);
    candidates = await memberCandidates(tx.sql, ownerId, swarmId, criteria, window);
  }
  const selection = selectMembers(
    candidates.filter((m) => m.swarmId === swarmId),
    criteria,
  );
  if (!swarmId || !selection.ok) {
    const reason = selection.ok ? 'no member of yours is eligible' : selection.reason;
    throw conflict(`Cannot coordinate: ${reason}${input.swarm_id ? ` in swarm ${input.swarm_id}` : ''}`);
  }
  const taskId = input.task_id ?? `task_${randomUUID()}`;
  const plan = planCoordination(strategy, selection.members, parameters, input.task);
  const timeout = input.timeout_seconds ?? parameters.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS;
  const voting = VOTING_STRATEGIES.includes(strategy);
  const coordination: CoordinationRow = {
    id: randomUUID(),
    // Its subtasks' spans join the trace of the request that coordinated it (tracing on only).
    traceParent: work.tracing.current(),
    taskId,
    swarmId,
    ownerId,
    strategy,
    task: input.task === undefined ? null : (input.task as CoordinationRow['task']),
    parameters: parameters as CoordinationRow['parameters'],
    status: 'queued',
    assignedMembers: selection.members.map((m) => m.memberId),
    collaborators: selection.members.length,
    leaseSeconds: parameters.lease_seconds ?? 30,
    maxAttempts: parameters.max_attempts ?? 3,
    leader: plan.leader,
    results: null,
    error: null,
    consensusAlgorithm: voting ? (parameters.consensus_algorithm ?? 'majority-vote') : null,
    consensusThreshold: voting ? (parameters.consensus_threshold ?? DEFAULT_CONSENSUS_THRESHOLD) : null,
    consensus: null,
    confidenceScore: null,
    consensusReachedAt: null,
    timeoutSeconds: timeout,
    deadlineAt: later(now, timeout),
    subtaskCount: plan.subtaskCount,
    decidedCount: 0,
    backupsLaunched: 0,
    backupsWon: 0,
    backupSecondsSaved: 0,
    startedAt: null,
    completedAt: null,
    createdAt: now,
    updatedAt: now,
  };
  if (!(await insertTask(tx.sql, { ...coordination, task: input.task === undefined ? undefined : coordination.task } as CoordinationRow))) {
    throw conflict(`Task ${taskId} already exists; use another task_id`);
  }
  await work.enqueue(
    tx,
    plan.work.map((w) => subtaskRow(coordination, w.seq, w.replica, w.memberId, w.payload, now)),
    now,
  );
  await taskStarted(tx, swarmId);
  return toCoordinateView(coordination);
}

function subtaskRow(c: CoordinationRow, seq: number, replica: number, memberId: string, payload: unknown, now: Date): NewSubtask {
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
async function lockTask(tx: Pick<Tx, 'sql'>, id: string, now: Date): Promise<CoordinationRow | null> {
  const row = await lockLiveParent(tx.sql, 'swarm_coordination', id, now);
  return row ? coordinationFrom(row) : null;
}

interface Outcome {
  results?: unknown;
  error?: string | null;
  /** A voting task's decision. */
  decision?: ConsensusDecision;
}

async function finish(
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

/** The eligible members that could take a replica now, best first; holders of its sibling replicas excluded. */
async function replacements(db: Sql, c: CoordinationRow, s: SubtaskRow): Promise<string[]> {
  const siblings = await db.all<{ assignee_id: string | null }>(sql`
    SELECT "assignee_id" FROM "subtasks" WHERE "coordination_id" = ${c.id} AND "seq" = ${s.seq} AND "id" <> ${s.id} AND "status" <> 'cancelled'`);
  const taken = new Set(siblings.map((x) => x.assignee_id));
  const criteria = criteriaOf(paramsOf(c), 1);
  const eligible = (await memberCandidates(db, c.ownerId, c.swarmId, criteria, candidateWindow(taken.size + 1))).filter(
    (m) =>
      m.status === 'active' &&
      !taken.has(m.memberId) &&
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

async function reassignMember(tx: Tx, c: CoordinationRow, s: SubtaskRow, avoid: string[], now: Date): Promise<string | null> {
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

/** A vote as consensus reads it, with the result it carries. */
type CastVote = Vote & { result: unknown };

/** The votes cast so far, by member id. */
async function votesOf(db: Sql, coordinationId: string): Promise<CastVote[]> {
  const rows = await db.all<{
    member_id: string;
    result_hash: string;
    preview: string;
    reputation: unknown;
    priority: string;
    result: unknown;
  }>(sql`
    SELECT "member_id", "result_hash", "preview", "reputation", "priority", "result" FROM "swarm_votes"
    WHERE "coordination_id" = ${coordinationId} ORDER BY "member_id"`);
  return rows.map((v) => ({
    memberId: v.member_id,
    resultKey: v.result_hash,
    preview: v.preview,
    reputation: Number(v.reputation),
    priority: v.priority as MemberPriority,
    result: fromJson(v.result),
  }));
}

/** The result the consensus chose: the first agreeing vote's (by member id). */
const winningResult = (votes: CastVote[], winner: string): unknown => votes.find((v) => v.resultKey === winner)?.result ?? null;

interface ConsensusSettings {
  algorithm: ConsensusAlgorithm;
  threshold: number;
}

const settingsOf = (c: CoordinationRow): ConsensusSettings => ({
  algorithm: (c.consensusAlgorithm as ConsensusAlgorithm | null) ?? 'majority-vote',
  threshold: c.consensusThreshold ?? DEFAULT_CONSENSUS_THRESHOLD,
});

/**
 * Decide the task's consensus now with the votes cast (the last vote is in,
 * or the deadline passed), store the decision, and move reputations: members
 * who agreed gain, dissenters lose. Done under the task's lock, once.
 */
async function decideVotes(tx: Tx, work: WorkEngine, c: CoordinationRow, now: Date, deadlinePassed: boolean): Promise<void> {
  const votes = await votesOf(tx.sql, c.id);
  const settings = settingsOf(c);
  const decision = decideConsensus(votes, { ...settings, expectedVoters: c.collaborators, final: true });
  tx.afterCommit(() => work.outcomes.consensus[decision.state === 'reached' ? 'reached' : 'failed']++);
  if (decision.state === 'reached') {
    const voters = [...decision.agreeing, ...decision.dissenting];
    const members = await tx.sql.all<{ member_id: string; reputation: unknown }>(
      sql`SELECT "member_id", "reputation" FROM "swarm_members" WHERE "member_id" ${inList(voters)}`,
    );
    const changes = reputationChanges(decision, new Map(members.map((m) => [m.member_id, Number(m.reputation)])));
    for (const [memberId, reputation] of changes)
      await tx.sql.run(sql`UPDATE "swarm_members" SET "reputation" = ${reputation}, "updated_at" = ${now} WHERE "member_id" = ${memberId}`);
    // The agreeing members' work is what the outcome is made of.
    const agreed = await tx.sql.run(sql`
      UPDATE "subtasks" SET "accepted" = ${true}, "updated_at" = ${now}
      WHERE "coordination_id" = ${c.id} AND "status" = 'completed' AND "assignee_id" ${inList(decision.agreeing)}`);
    await resultsAccepted(tx, c.swarmId, agreed);
    return finish(tx, work, c, 'completed', { results: winningResult(votes, decision.winner), decision }, now);
  }
  const reason = decision.state === 'failed' ? decision.reason : 'votes are still outstanding';
  return finish(
    tx,
    work,
    c,
    deadlinePassed && votes.length < c.collaborators ? 'timed_out' : 'failed',
    { error: `no consensus: ${reason}`, decision },
    now,
  );
}

/** After a replica of a task's subtask completed or failed for good. Call with the task locked. */
async function settle(tx: Tx, work: WorkEngine, c: CoordinationRow, s: SubtaskRow, now: Date): Promise<void> {
  const parameters = paramsOf(c);
  if (isVoting(c)) {
    if (s.status === 'completed' && s.assigneeId) {
      const { hash, preview } = voteKey(comparedValue(s.result, parameters.compare));
      // The member's reputation and priority as it votes (weighted voting reads them).
      await tx.sql.run(sql`
        INSERT INTO "swarm_votes" ("id", "coordination_id", "member_id", "subtask_id", "result", "result_hash", "preview",
          "reputation", "priority", "created_at")
        SELECT ${randomUUID()}, ${c.id}, ${s.assigneeId}, ${s.id}, ${json(s.result)}, ${hash}, ${preview},
          COALESCE(m."reputation", 0.5), COALESCE(m."priority", 'normal'), ${now}
        FROM (SELECT 1) AS one LEFT JOIN "swarm_members" m ON m."member_id" = ${s.assigneeId}
        ON CONFLICT ("coordination_id", "member_id") DO NOTHING`);
    }
    if ((await openSubtasks(tx.sql, c.id)) === 0) await decideVotes(tx, work, c, now, false);
    return;
  }
  if (s.status === 'failed')
    return finish(tx, work, c, 'failed', { error: `subtask ${s.seq} failed: ${s.error ?? 'no reason given'}` }, now);

  await tx.sql.run(sql`UPDATE "subtasks" SET "accepted" = ${true}, "updated_at" = ${now} WHERE "id" = ${s.id}`);
  await resultsAccepted(tx, c.swarmId, 1);
  const updated = coordinationFrom(
    (await tx.sql.one(sql`
      UPDATE "swarm_coordination" SET "decided_count" = "decided_count" + 1, "updated_at" = ${now} WHERE "id" = ${c.id} RETURNING *`))!,
  );
  if (strategyOf(c) === 'pipeline' && updated.decidedCount < updated.subtaskCount) {
    const stage = s.seq + 1;
    const members = membersOf(c);
    const preferred = stageMember(members, stage);
    const available = await replacements(tx.sql, c, { ...s, seq: stage, id: '' });
    const memberId = available.includes(preferred) ? preferred : (available[0] ?? null);
    if (!memberId) return finish(tx, work, c, 'failed', { error: `no eligible member is left for stage ${stage}` }, now);
    await work.enqueue(tx, [subtaskRow(c, stage, 0, memberId, stagePayload(parameters, stage, s.result), now)], now);
    return;
  }
  if (updated.decidedCount < updated.subtaskCount) return;
  const accepted = await tx.sql.all<{ result: unknown }>(sql`
    SELECT "result" FROM "subtasks" WHERE "coordination_id" = ${c.id} AND "accepted" = ${true} ORDER BY "seq"`);
  const results = accepted.map((x) => fromJson(x.result));
  return finish(tx, work, c, 'completed', { results: taskResults(strategyOf(c), parameters, results) }, now);
}

/** A swarm coordination task as the work engine's parent of its subtasks (see work/parent.ts). */
export class CoordinationParent implements WorkParent {
  /** Task ids and swarms by coordination: fixed for a task's life. */
  private readonly known = new Map<string, { taskId: string; swarmId: string }>();

  constructor(private readonly work: WorkEngine) {}

  private async meta(
    db: Sql,
    ids: string[],
    withStatus: boolean,
  ): Promise<Map<string, { taskId: string; swarmId: string; status: string }>> {
    const unknown = withStatus ? ids : ids.filter((id) => !this.known.has(id));
    const rows = unknown.length
      ? await db.all<{ id: string; task_id: string; swarm_id: string; status: string }>(
          sql`SELECT "id", "task_id", "swarm_id", "status" FROM "swarm_coordination" WHERE "id" ${inList(unknown)}`,
        )
      : [];
    if (this.known.size >= 10_000) this.known.clear();
    for (const r of rows) this.known.set(r.id, { taskId: r.task_id, swarmId: r.swarm_id });
    const status = new Map(rows.map((r) => [r.id, r.status]));
    return new Map(
      ids.flatMap((id) => (this.known.has(id) ? [[id, { ...this.known.get(id)!, status: status.get(id) ?? '' }] as const] : [])),
    );
  }

  /** Lock order: the swarms (sorted), then the tasks (sorted); every path that settles or moves swarm work starts here. */
  async lock(tx: Tx, ids: string[], _moving: boolean, now: Date): Promise<void> {
    const meta = await this.meta(tx.sql, ids, false);
    for (const swarmId of [...new Set([...meta.values()].map((m) => m.swarmId))].sort()) await lockSwarm(tx, swarmId);
    for (const id of ids) await lockTask(tx, id, now);
  }

  traceParents(db: Sql, ids: string[]): Promise<Map<string, string | null>> {
    return readTraceParents(db, 'swarm_coordination', ids);
  }

  async describe(db: Sql, ids: string[], withStatus: boolean): Promise<Map<string, ParentDescription>> {
    const meta = await this.meta(db, ids, withStatus);
    return new Map(
      [...meta].map(([id, m]) => [id, { execution_id: null, network_id: null, task_id: m.taskId, swarm_id: m.swarmId, status: m.status }]),
    );
  }

  async started(db: Sql, ids: string[], now: Date): Promise<void> {
    // Only a live task has assigned work to claim: queued becomes running, running stays.
    await db.run(sql`
      UPDATE "swarm_coordination" SET "status" = 'running', "started_at" = ${now}, "updated_at" = ${now}
      WHERE "id" ${inList(ids)} AND "status" = 'queued'`);
  }

  async reassign(tx: Tx, s: SubtaskRow, avoid: string[], now: Date): Promise<Assignment> {
    const c = await readTask(tx.sql, s.coordinationId!);
    if (!c) return { assigneeId: null, claimBy: later(now, 30) };
    const { retry_base_seconds: baseSeconds, retry_max_seconds: maxSeconds } = { ...DEFAULT_RETRY_SETTINGS, ...paramsOf(c) };
    return {
      assigneeId: await reassignMember(tx, c, s, avoid, now),
      claimBy: later(now, c.leaseSeconds),
      retry: { baseSeconds, maxSeconds },
    };
  }

  async settle(tx: Tx, id: string, replicas: SubtaskRow[], now: Date): Promise<void> {
    for (const s of replicas) {
      const c = await readTask(tx.sql, id);
      if (!c || !LIVE_TASK_STATUSES.includes(c.status)) return;
      await settle(tx, this.work, c, s, now);
    }
  }

  async attemptsEnded(tx: Tx, id: string, attempts: EndedAttempt[]): Promise<void> {
    const swarmId = (await this.meta(tx.sql, [id], false)).get(id)?.swarmId;
    if (!swarmId) return;
    const count = (outcome: EndedAttempt['outcome']) => attempts.filter((a) => a.outcome === outcome).length;
    const seconds = attempts.reduce((sum, a) => sum + a.seconds, 0);
    await tx.sql.run(sql`
      UPDATE "swarms" SET "attempts_completed" = "attempts_completed" + ${count('completed')}, "attempts_failed" = "attempts_failed" + ${count('failed')},
        "attempts_expired" = "attempts_expired" + ${count('expired')}, "task_seconds" = "task_seconds" + ${seconds}
      WHERE "id" = ${swarmId}`);
  }

  /** A task is decided in the transaction that settles its last work (under its lock): nothing is left for later. */
  async finishIfDone(_db: Database, _id: string, _now: Date): Promise<void> {}

  /**
   * The member's live tasks that let it take another selected member's work
   * (README "Stragglers"): it must be one of the task's selected members.
   * A leader-election task's work is its leader's, so it is never stolen;
   * a vote is a member's own work, so voting tasks never get backups.
   */
  async openTo(db: Sql, ownerId: string, memberId: string): Promise<OpenParent[]> {
    const rows = await db.all<Record<string, unknown>>(sql`
      SELECT c.* FROM "swarm_coordination" c
      WHERE c."swarm_id" = (SELECT "swarm_id" FROM "swarm_members" WHERE "member_id" = ${memberId})
        AND c."owner_id" = ${ownerId} AND c."status" IN ('queued', 'running')`);
    return rows.map(coordinationFrom).flatMap((c) => {
      if (!membersOf(c).includes(memberId)) return [];
      const p = { ...DEFAULT_STRAGGLER_SETTINGS, ...stragglerSettingsOf(paramsOf(c)) };
      const stealing = p.work_stealing && strategyOf(c) !== 'leader-election';
      const speculation = p.speculation && !isVoting(c) ? { multiplier: p.speculation_multiplier, quantile: p.speculation_quantile } : null;
      const decidedShare = c.decidedCount / Math.max(1, c.subtaskCount);
      return stealing || speculation ? [{ id: c.id, stealing, speculation, strategy: c.strategy, decidedShare }] : [];
    });
  }

  /** A selected member may take any of its task's work (openTo checked that it is one). */
  async mayTake(_db: Sql, _memberId: string, candidates: Takeable[]): Promise<Takeable[]> {
    return candidates;
  }

  backups(tx: Tx, id: string, by: BackupCounts): Promise<void> {
    return countBackups(tx.sql, 'swarm_coordination', id, by);
  }
}

/** The straggler settings a task's parameters name (the rest are the defaults). */
function stragglerSettingsOf(p: CoordinationParameters): Partial<StragglerSettings> {
  const named = {
    work_stealing: p.work_stealing,
    speculation: p.speculation,
    speculation_multiplier: p.speculation_multiplier,
    speculation_quantile: p.speculation_quantile,
  };
  return Object.fromEntries(Object.entries(named).filter(([, v]) => v !== undefined));
}

/**
 * Tasks past their deadline: a voting task is decided with the votes cast
 * (consensus may still be reached), any other times out. Each is its own
 * transaction under the task's lock, so it is decided once.
 */
export async function expireCoordinations(db: Database, work: WorkEngine, now: Date): Promise<{ timedOut: number }> {
  const due = await db.run((_, db) =>
    db.all<{ id: string; swarm_id: string }>(sql`
      SELECT "id", "swarm_id" FROM "swarm_coordination" WHERE "status" IN ('queued', 'running') AND "deadline_at" < ${now}
      LIMIT ${raw(String(DEADLINE_BATCH))}`),
  );
  let timedOut = 0;
  for (const { id, swarm_id: swarmId } of due) {
    const done = await db.transaction(async (tx) => {
      // Lock order: the swarm, then the task (reputations of its members may move).
      await lockSwarm(tx, swarmId);
      const c = await lockTask(tx, id, now);
      if (!c) return false;
      if (isVoting(c)) await decideVotes(tx, work, c, now, true);
      else await finish(tx, work, c, 'timed_out', { error: `timed out after ${c.timeoutSeconds} s` }, now);
      return true;
    });
    if (done) timedOut++;
  }
  return { timedOut };
}

/** Cancel a queued or running task: its open work is withdrawn. */
export async function cancelTask(tx: Tx, work: WorkEngine, ownerId: string, taskId: string, now: Date): Promise<CoordinationRow> {
  const found = await findTask(tx.sql, ownerId, taskId);
  await lockSwarm(tx, found.swarmId);
  const c = await lockTask(tx, found.id, now);
  if (!c) throw conflict(`Task ${taskId} is already ${found.status}`);
  await finish(tx, work, c, 'cancelled', {}, now);
  return (await readTask(tx.sql, c.id))!;
}

// ---------------------------------------------------------------- consensus requests

function decisionOf(c: CoordinationRow): ConsensusDecision | null {
  return (c.consensus as ConsensusDecision | null) ?? null;
}

/**
 * The consensus view of a task: the stored decision, or the current tally while votes are outstanding.
 *
 * With `asked`, the view answers a question instead: what a threshold vote at that threshold says of the votes
 * so far (final once the task has ended), computed and never stored, so asking cannot change how the task is
 * decided. That is the legacy CLI's `swarm consensus TASK_ID --consensus-threshold T`.
 */
export async function consensusView(db: Sql, c: CoordinationRow, asked?: { threshold: number }): Promise<ConsensusView> {
  const settings: ConsensusSettings = asked ? { algorithm: 'threshold', threshold: asked.threshold } : settingsOf(c);
  const votes = await votesOf(db, c.id);
  const decision = asked
    ? decideConsensus(votes, { ...settings, expectedVoters: c.collaborators, final: !LIVE_TASK_STATUSES.includes(c.status) })
    : decisionOf(c);
  let decided = decision && decision.state !== 'pending' ? decision : null;
  // A task cancelled before its votes were in was never decided, and never will be.
  if (!decided && !LIVE_TASK_STATUSES.includes(c.status))
    decided = {
      state: 'failed',
      reason: `no decision: the task was ${c.status} before its votes were in`,
      confidence: null,
      tallies: tallyVotes(votes, settings.algorithm),
    };
  const tallies = decided?.tallies ?? tallyVotes(votes, settings.algorithm);
  const reached = decided?.state === 'reached' ? decided : null;
  const counts: Record<string, number> = {};
  for (const t of tallies)
    counts[tallies.filter((x) => x.preview === t.preview).length > 1 ? `${t.preview}#${t.resultKey.slice(0, 8)}` : t.preview] = t.count;
  const participating = votes.map((v) => v.memberId).sort();
  const waiting = c.collaborators - votes.length;
  return {
    task_id: c.taskId,
    swarm_id: c.swarmId,
    consensus_algorithm: settings.algorithm,
    consensus_threshold: settings.algorithm === 'threshold' ? settings.threshold : null,
    consensus_reached: reached !== null,
    status: decided ? decided.state : 'pending',
    result: reached ? { final_answer: winningResult(votes, reached.winner), votes: counts } : null,
    confidence_score: decided ? decided.confidence : null,
    votes: tallies.map((t) => ({ result_hash: t.resultKey, preview: t.preview, count: t.count, weight: t.weight, members: t.members })),
    participating_members: participating,
    dissenting_members: reached ? reached.dissenting : [],
    expected_votes: c.collaborators,
    reason:
      decided?.state === 'failed'
        ? decided.reason
        : decided
          ? null
          : `waiting for ${waiting} of ${c.collaborators} votes until ${iso(c.deadlineAt) ?? 'the deadline'}`,
    consensus_reached_at: asked ? null : iso(c.consensusReachedAt),
    deadline_at: iso(c.deadlineAt),
  };
}

/**
 * The legacy consensus call (`POST /swarm/tasks/{id}/consensus`): a read-only threshold view (see consensusView).
 * A task whose members do not vote answers that there is no vote, as a 200: the legacy CLI takes any other status
 * for an error.
 */
export async function thresholdView(db: Sql, ownerId: string, taskId: string, threshold: number): Promise<ConsensusView> {
  const c = await findTask(db, ownerId, taskId);
  if (isVoting(c)) return consensusView(db, c, { threshold });
  return {
    task_id: c.taskId,
    swarm_id: c.swarmId,
    consensus_algorithm: 'threshold',
    consensus_threshold: threshold,
    consensus_reached: false,
    status: 'failed',
    result: null,
    confidence_score: null,
    votes: [],
    participating_members: [],
    dissenting_members: [],
    expected_votes: 0,
    reason: `no vote: ${c.taskId} is a ${strategyOf(c)} task, and its members do not vote. Its result is in GET /swarm/tasks/${c.taskId}/status`,
    consensus_reached_at: null,
    deadline_at: iso(c.deadlineAt),
  };
}

/**
 * A consensus request: the algorithm (and threshold) asked for apply to a
 * task not yet decided, and `timeout_seconds` sets its voting deadline
 * (counted from the task's start). When every vote is in or the deadline has
 * passed, the decision is made now; otherwise the answer is pending.
 */
export async function requestConsensus(
  tx: Tx,
  work: WorkEngine,
  ownerId: string,
  input: {
    task_id: string;
    consensus_algorithm?: ConsensusAlgorithm | undefined;
    consensus_threshold?: number | undefined;
    timeout_seconds?: number | undefined;
  },
  now: Date,
): Promise<ConsensusView> {
  const found = await findTask(tx.sql, ownerId, input.task_id);
  if (!isVoting(found)) {
    throw conflict(
      `Task ${found.taskId} is a ${found.strategy} task: its members do not vote. Consensus applies to broadcast and consensus tasks; its result is in GET /swarm/tasks/${found.taskId}/status`,
    );
  }
  let c = found;
  if (LIVE_TASK_STATUSES.includes(found.status)) {
    // Lock order: the swarm, then the task (deciding moves its members' reputations).
    await lockSwarm(tx, found.swarmId);
    const locked = await lockTask(tx, found.id, now);
    if (locked) {
      const set = [
        sql`"updated_at" = ${now}`,
        ...(input.consensus_algorithm ? [sql`"consensus_algorithm" = ${input.consensus_algorithm}`] : []),
        ...(input.consensus_threshold !== undefined ? [sql`"consensus_threshold" = ${input.consensus_threshold}`] : []),
        ...(input.timeout_seconds !== undefined
          ? [sql`"deadline_at" = ${later(locked.createdAt, input.timeout_seconds)}`, sql`"timeout_seconds" = ${input.timeout_seconds}`]
          : []),
      ];
      c = coordinationFrom((await tx.sql.one(sql`UPDATE "swarm_coordination" SET ${join(set)} WHERE "id" = ${locked.id} RETURNING *`))!);
      const deadlinePassed = c.deadlineAt !== null && c.deadlineAt <= now;
      if ((await openSubtasks(tx.sql, c.id)) === 0 || deadlinePassed) {
        await decideVotes(tx, work, c, now, deadlinePassed);
        c = (await readTask(tx.sql, c.id))!;
      }
    }
  }
  return consensusView(tx.sql, c);
}

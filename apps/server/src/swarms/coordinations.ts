import { randomUUID } from 'node:crypto';
import {
  chooseSwarm,
  type ConsensusAlgorithm,
  type CoordinateView,
  type CoordinationParameters,
  DEFAULT_COLLABORATORS,
  DEFAULT_CONSENSUS_THRESHOLD,
  comparedValue,
  LEGACY_SWARM_STRATEGIES,
  planCoordination,
  selectMembers,
  stageMember,
  stagePayload,
  type SwarmStrategy,
  type TaskStatus,
  VOTING_STRATEGIES,
  DEFAULT_RETRY_SETTINGS,
  DEFAULT_STRAGGLER_SETTINGS,
  type StragglerSettings,
  LIVE_TASK_STATUSES,
  reportedTaskStatus,
  taskResults,
} from '@aitbc/core';
import type { Database, Tx } from '../db/database.ts';
import { fromJson, inList, json, raw, type Sql, sql } from '../db/sql.ts';
import { resultsAccepted, taskStarted } from '../stats.ts';
import { lockSwarm } from './lock.ts';
import type { WorkEngine } from '../work/engine.ts';
import type { SubtaskRow } from '../work/subtasks.ts';
import {
  type Assignment,
  type BackupCounts,
  countBackups,
  type EndedAttempt,
  type OpenParent,
  type ParentDescription,
  type Takeable,
  readTraceParents,
  type WorkParent,
} from '../work/parent.ts';
import { candidateWindow, memberCandidates, swarmNotFound } from './membership.ts';
import { type CoordinationRow, coordinationFrom, iso } from './views.ts';
import { conflict } from '../errors.ts';
import { later } from '../clock.ts';
import { enrollHosts, quarantinedAmong } from '../verification/records.ts';
import { decideVotes, voteKey } from './consensus.ts';
import {
  decideVerifiedTask,
  reopenTrusted,
  replicateCopies,
  type TaskHooks,
  takenOnTrust,
  taskPolicy,
  verifiedTaskResults,
  voteHash,
} from './verified.ts';
import {
  criteriaOf,
  findTask,
  finish,
  isVoting,
  lockTask,
  memberHosts,
  membersOf,
  openSubtasks,
  paramsOf,
  readTask,
  reassignMember,
  replacements,
  strategyOf,
  subtaskRow,
} from './tasks.ts';

export { consensusView, requestConsensus, thresholdView } from './consensus.ts';
export { findTask, taskNotFound } from './tasks.ts';

const DEFAULT_TIMEOUT_SECONDS = 3600;
const DEADLINE_BATCH = 100;

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
  // Under `replicate`, each subtask starts with k copies on distinct members and hosts (README "Verification"); a
  // voting task's members already each answer.
  const policy = VOTING_STRATEGIES.includes(strategy) ? null : parameters.verification;
  const copies = policy?.policy === 'replicate' ? (policy.copies ?? 2) : 1;
  if (copies > 1) plan.work.push(...replicateCopies(plan.work, selection.members, copies));
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
  // Under adaptive, its members never validated are held to one unchecked subtask of their own (README "Verification").
  if (policy?.policy === 'adaptive')
    await enrollHosts(
      tx,
      'member',
      ownerId,
      selection.members.map((m) => m.memberId),
      now,
    );
  await work.enqueue(
    tx,
    plan.work.map((w) => subtaskRow(coordination, w.seq, w.replica, w.memberId, w.payload, now)),
    now,
  );
  await taskStarted(tx, swarmId);
  return toCoordinateView(coordination);
}

type Deps = { db: Database; work: WorkEngine };

/** After a replica of a task's subtask completed or failed for good. Call with the task locked. */
async function settle(tx: Tx, deps: Deps, c: CoordinationRow, s: SubtaskRow, hooks: TaskHooks, now: Date): Promise<void> {
  const { work } = deps;
  const parameters = paramsOf(c);
  const policy = taskPolicy(c);
  if (isVoting(c)) {
    if (s.status === 'completed' && s.assigneeId) {
      const compared = comparedValue(s.result, parameters.compare);
      const { preview } = voteKey(compared);
      // Under a policy, votes agree by its comparator.
      const hash = await voteHash(tx.sql, c, compared, policy);
      // The member's reputation and priority as it votes (weighted voting reads them).
      await tx.sql.run(sql`
        INSERT INTO "swarm_votes" ("id", "coordination_id", "member_id", "subtask_id", "result", "result_hash", "preview",
          "reputation", "priority", "created_at")
        SELECT ${randomUUID()}, ${c.id}, ${s.assigneeId}, ${s.id}, ${json(s.result)}, ${hash}, ${preview},
          COALESCE(m."reputation", 0.5), COALESCE(m."priority", 'normal'), ${now}
        FROM (SELECT 1) AS one LEFT JOIN "swarm_members" m ON m."member_id" = ${s.assigneeId}
        ON CONFLICT ("coordination_id", "member_id") DO NOTHING`);
    }
    if ((await openSubtasks(tx.sql, c.id)) === 0) await decideVotes(tx, deps, c, now, false);
    return;
  }
  if (policy) return decideVerifiedTask(tx, deps, c, s.seq, policy, hooks, now);
  if (s.status === 'failed')
    return finish(tx, work, c, 'failed', { error: `subtask ${s.seq} failed: ${s.error ?? 'no reason given'}` }, now);

  await tx.sql.run(sql`UPDATE "subtasks" SET "accepted" = ${true}, "updated_at" = ${now} WHERE "id" = ${s.id}`);
  await resultsAccepted(tx, c.swarmId, 1);
  return decided(tx, work, c, s, s.seq, now);
}

/**
 * A subtask of a task is decided: `s` carries its result (null: inconclusive, under a policy). The pipeline's next
 * stage starts from it; once every subtask is decided, the task completes.
 */
async function decided(tx: Tx, work: WorkEngine, c: CoordinationRow, s: SubtaskRow | null, seq: number, now: Date): Promise<void> {
  const parameters = paramsOf(c);
  const policy = taskPolicy(c);
  if (!s && (strategyOf(c) === 'pipeline' || strategyOf(c) === 'leader-election'))
    return finish(tx, work, c, 'failed', { error: `subtask ${seq} is inconclusive: no quorum of its copies agreed` }, now);
  const updated = coordinationFrom(
    (await tx.sql.one(sql`
      UPDATE "swarm_coordination" SET "decided_count" = "decided_count" + 1, "updated_at" = ${now} WHERE "id" = ${c.id} RETURNING *`))!,
  );
  if (strategyOf(c) === 'pipeline' && s && updated.decidedCount < updated.subtaskCount) {
    const stage = seq + 1;
    const members = membersOf(c);
    const preferred = stageMember(members, stage);
    const available = await replacements(tx.sql, c, { seq: stage, id: '' });
    const memberId = available.includes(preferred) ? preferred : (available[0] ?? null);
    if (!memberId) return finish(tx, work, c, 'failed', { error: `no eligible member is left for stage ${stage}` }, now);
    const first = subtaskRow(c, stage, 0, memberId, stagePayload(parameters, stage, s.result), now);
    // Under `replicate`, the stage starts with k copies too, on other members and hosts.
    const copies = policy?.policy === 'replicate' ? policy.copies : 1;
    const hosts = copies > 1 ? await memberHosts(tx.sql, available) : new Map<string, string>();
    const ranked = [memberId, ...available.filter((id) => id !== memberId)].map((id) => ({ memberId: id, host: hosts.get(id) ?? null }));
    const more = copies > 1 ? replicateCopies([{ seq: stage, replica: 0, memberId, payload: first.payload }], ranked, copies) : [];
    await work.enqueue(tx, [first, ...more.map((w) => subtaskRow(c, w.seq, w.replica, w.memberId, w.payload, now))], now);
    return;
  }
  if (updated.decidedCount < updated.subtaskCount) return;
  if (policy) return finish(tx, work, c, 'completed', { results: await verifiedTaskResults(tx.sql, c) }, now);
  const accepted = await tx.sql.all<{ result: unknown }>(sql`
    SELECT "result" FROM "subtasks" WHERE "coordination_id" = ${c.id} AND "accepted" = ${true} ORDER BY "seq"`);
  const results = accepted.map((x) => fromJson(x.result));
  return finish(tx, work, c, 'completed', { results: taskResults(strategyOf(c), parameters, results) }, now);
}

/** A swarm coordination task as the work engine's parent of its subtasks (see work/parent.ts). */
export class CoordinationParent implements WorkParent {
  /** Task ids and swarms by coordination: fixed for a task's life. */
  private readonly known = new Map<string, { taskId: string; swarmId: string }>();

  constructor(
    private readonly work: WorkEngine,
    private readonly db: Database,
  ) {}

  /** What settling a task's subtask may lead to, besides deciding it (see swarms/verified.ts). */
  private hooks(tx: Tx, c: CoordinationRow, now: Date): TaskHooks {
    return {
      decided: (winner, seq) => decided(tx, this.work, c, winner, seq, now),
      fail: (error) => finish(tx, this.work, c, 'failed', { error }, now),
      caught: (members) => tx.afterCommit(() => this.recheck(members, now)),
    };
  }

  /**
   * Trusted members a quorum caught with an invalid result: their results in live tasks taken on their trust
   * alone are checked again, one task at a time under its locks.
   */
  async recheck(members: string[], now: Date): Promise<void> {
    const deps = { db: this.db, work: this.work };
    for (const memberId of members) {
      for (const [id, seqs] of await takenOnTrust(this.db, memberId)) {
        await this.db.transaction(async (tx) => {
          await this.lock(tx, [id], true, now);
          const c = await readTask(tx.sql, id);
          const policy = c && LIVE_TASK_STATUSES.includes(c.status) ? taskPolicy(c) : null;
          if (!c || !policy) return;
          const hooks = this.hooks(tx, c, now);
          await reopenTrusted(tx, c, memberId, seqs, (seq) => decideVerifiedTask(tx, deps, c, seq, policy, hooks, now), now);
        });
      }
    }
  }

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
      await settle(tx, { db: this.db, work: this.work }, c, s, this.hooks(tx, c, now), now);
    }
  }

  async attemptsEnded(tx: Tx, ended: ReadonlyMap<string, EndedAttempt[]>): Promise<void> {
    for (const [id, attempts] of ended) await this.attemptsEndedOf(tx, id, attempts);
  }

  private async attemptsEndedOf(tx: Tx, id: string, attempts: EndedAttempt[]): Promise<void> {
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
  async finishIfDone(_db: Database, _ids: string[], _now: Date): Promise<Map<string, string>> {
    return new Map();
  }

  /**
   * The member's live tasks that let it take another selected member's work
   * (README "Stragglers"): it must be one of the task's selected members.
   * A leader-election task's work is its leader's, so it is never stolen;
   * a vote is a member's own work, so voting tasks never get backups.
   */
  async openTo(db: Sql, ownerId: string, memberId: string, now: Date, only?: string[]): Promise<OpenParent[]> {
    const rows = await db.all<Record<string, unknown>>(sql`
      SELECT c.* FROM "swarm_coordination" c
      WHERE c."swarm_id" = (SELECT "swarm_id" FROM "swarm_members" WHERE "member_id" = ${memberId})
        AND c."owner_id" = ${ownerId} AND c."status" IN ('queued', 'running') ${only ? sql`AND c."id" ${inList(only)}` : sql``}`);
    // A quarantined member takes no one's work (README "Verification"); asked only when there is work it could take.
    if (rows.length > 0 && (await quarantinedAmong(db, [memberId], now)).size > 0) return [];
    return rows.map(coordinationFrom).flatMap((c) => {
      if (!membersOf(c).includes(memberId)) return [];
      const p = { ...DEFAULT_STRAGGLER_SETTINGS, ...stragglerSettingsOf(paramsOf(c)) };
      const stealing = p.work_stealing && strategyOf(c) !== 'leader-election';
      const speculation = p.speculation && !isVoting(c) ? { multiplier: p.speculation_multiplier, quantile: p.speculation_quantile } : null;
      const decidedShare = c.decidedCount / Math.max(1, c.subtaskCount);
      const assignees = membersOf(c);
      return stealing || speculation ? [{ id: c.id, stealing, speculation, strategy: c.strategy, decidedShare, assignees }] : [];
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
      if (isVoting(c)) await decideVotes(tx, { db, work }, c, now, true);
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

import {
  chooseAgent,
  type VerificationSettings,
  type CoordinationStrategy,
  decideReplicas,
  finishesSooner,
  type ExecutionView,
  isCapable,
  isReplicated,
  type ReplicaOutcome,
  replicaPolicy,
} from '@aitbc/core';
import type { PrismaTx } from '../db/client.ts';
import type { Database, Tx } from '../db/database.ts';
import { flag, fromJson, inList, join, shard, type Sql, sql } from '../db/sql.ts';
import { conflict, type DomainError, notFound } from '../errors.ts';
import { executionEnded, replicasDecided } from '../stats.ts';
import type { WorkEngine } from '../work/engine.ts';
import {
  type Assignment,
  type BackupCounts,
  countBackups,
  type EndedAttempt,
  lockLiveParent,
  type OpenParent,
  type ParentDescription,
  type SubtaskRef,
  type Takeable,
  readTraceParents,
  type WorkParent,
} from '../work/parent.ts';
import type { DecidingAlone } from '../work/sql/decide.ts';
import { openLoad } from '../work/open-work.ts';
import { OPEN_STATES, type SubtaskRow } from '../work/subtasks.ts';
import { agentHosts, loadCandidates, meanTaskSeconds } from './candidates.ts';
import { completeDecided } from './completion.ts';
import { executionsDecidingAlone } from './deciding-alone.ts';
import { addCopies, countDecided, countDecidedOf, decidedOf } from './copies.ts';
import { recordDeadLetter } from './dead-letters.ts';
import { executionPolicy, VerifiedExecutions } from './verified.ts';
import { type ExecutionRow, type NetworkRow, networkSettings, toExecutionView } from './views.ts';
import { quarantinedAmong } from '../verification/records.ts';
import { later } from '../clock.ts';

const FINISHED_EXECUTION = ['completed', 'failed', 'cancelled'];

/** What decides an execution's subtasks: its network's strategy and the policy it was submitted under. */
interface ExecutionRules {
  strategy: CoordinationStrategy;
  verification: VerificationSettings | null;
}

export function executionNotFound(id: string): DomainError {
  return notFound(`Execution ${id} not found`);
}

const strategyOf = (n: NetworkRow) => n.coordinationStrategy as CoordinationStrategy;

/** Subtasks decided per execution: the sum of its progress shards. */
export async function decidedCounts(tx: Pick<PrismaTx, 'executionProgress'>, executionIds: string[]): Promise<Map<string, number>> {
  if (executionIds.length === 0) return new Map();
  const rows = await tx.executionProgress.groupBy({
    by: ['executionId'],
    where: { executionId: { in: executionIds } },
    _sum: { decided: true },
  });
  return new Map(rows.map((r) => [r.executionId, r._sum.decided ?? 0]));
}

/**
 * Take the execution's row lock before settling any of its subtasks against
 * each other. Returns null when the execution no longer takes results.
 */
export async function lockExecution(tx: Tx, executionId: string, now: Date): Promise<ExecutionRow | null> {
  if (!(await lockLiveParent(tx.sql, 'agent_network_executions', executionId, now))) return null;
  return tx.agentNetworkExecution.findUnique({ where: { id: executionId } });
}

function outcomeOf(s: SubtaskRow): ReplicaOutcome {
  if (s.status === 'completed') return { replica: s.replica, state: 'completed', resultKey: s.resultKey ?? '' };
  if (s.status === 'failed') return { replica: s.replica, state: 'failed' };
  return { replica: s.replica, state: 'open' };
}

export const isFinished = (status: string) => FINISHED_EXECUTION.includes(status);

/** A network execution as the work engine's parent of its subtasks (see work/parent.ts). */
export class ExecutionParent implements WorkParent {
  /** Execution → network: fixed for an execution's life. */
  private readonly networkOf = new Map<string, string>();

  /** Its verified executions' decisions (README "Verification"). */
  private readonly verified: VerifiedExecutions;

  constructor(
    private readonly work: WorkEngine,
    db: Database,
  ) {
    this.verified = new VerifiedExecutions({
      db,
      work,
      network: (tx, id) => this.network(tx, id),
      lock: lockExecution,
      fail: (tx, execution, reason, now, dead) => this.fail(tx, execution, reason, now, dead),
    });
  }

  private async network(tx: Tx, executionId: string): Promise<NetworkRow | null> {
    const networkId =
      this.networkOf.get(executionId) ??
      (await tx.agentNetworkExecution.findUnique({ where: { id: executionId }, select: { networkId: true } }))?.networkId;
    if (!networkId) return null;
    this.remember(executionId, networkId);
    return tx.agentNetwork.findUnique({ where: { id: networkId } });
  }

  private remember(executionId: string, networkId: string): void {
    if (this.networkOf.size >= 10_000) this.networkOf.clear();
    this.networkOf.set(executionId, networkId);
  }

  /** Strategies and policies read in a transaction (by lock), for its settle to reuse. */
  private readonly seen = new WeakMap<object, Map<string, ExecutionRules>>();

  /**
   * Strategies and verification policies per execution, read raw (once per transaction): results on a
   * single-replica strategy without a policy need no lock at all.
   */
  private async strategies(tx: Tx, ids: string[]): Promise<Map<string, ExecutionRules>> {
    const known = this.seen.get(tx);
    if (known && ids.every((id) => known.has(id))) return known;
    const rows = await tx.sql.all<{ id: string; network_id: string; coordination_strategy: string; verification: unknown }>(sql`
      SELECT e."id", e."network_id", n."coordination_strategy", e."verification" FROM "agent_network_executions" e
      JOIN "agent_networks" n ON n."id" = e."network_id" WHERE e."id" ${inList(ids)}`);
    for (const r of rows) this.remember(r.id, r.network_id);
    const found = new Map(
      rows.map((r) => [r.id, { strategy: r.coordination_strategy as CoordinationStrategy, verification: executionPolicy(r.verification) }]),
    );
    this.seen.set(tx, new Map([...(known ?? []), ...found]));
    return found;
  }

  async lock(tx: Tx, ids: string[], moving: boolean, now: Date): Promise<void> {
    const rules = moving ? null : await this.strategies(tx, ids);
    for (const id of ids) {
      const r = rules?.get(id);
      if (moving || (r && (isReplicated(r.strategy) || r.verification))) await lockExecution(tx, id, now);
    }
  }

  traceParents(db: Sql, ids: string[]): Promise<Map<string, string | null>> {
    return readTraceParents(db, 'agent_network_executions', ids);
  }

  async describe(
    db: Sql,
    ids: string[],
    withStatus: boolean,
    subtasks: readonly SubtaskRef[] = [],
  ): Promise<Map<string, ParentDescription>> {
    // A subtask names its execution's network: a claim's rows need no read.
    for (const r of subtasks) if (r.executionId && r.networkId) this.remember(r.executionId, r.networkId);
    const unknown = withStatus ? ids : ids.filter((id) => !this.networkOf.has(id));
    const rows = unknown.length
      ? await db.all<{ id: string; network_id: string; status: string }>(
          sql`SELECT "id", "network_id", "status" FROM "agent_network_executions" WHERE "id" ${inList(unknown)}`,
        )
      : [];
    const status = new Map(rows.map((r) => [r.id, r.status]));
    for (const r of rows) this.remember(r.id, r.network_id);
    return new Map(
      ids.map((id) => [
        id,
        { execution_id: id, network_id: this.networkOf.get(id) ?? null, task_id: null, swarm_id: null, status: status.get(id) ?? '' },
      ]),
    );
  }

  /**
   * Give an open replica to another agent by the network's strategy,
   * avoiding `avoid` (the agent that just lost or dropped it) when anyone
   * else can take it.
   */
  async reassign(tx: Tx, s: SubtaskRow, avoid: string[], now: Date): Promise<Assignment> {
    const network = await this.network(tx, s.executionId!);
    if (!network) return { assigneeId: null, claimBy: later(now, 30) };
    const siblings = await tx.subtask.findMany({
      where: { executionId: s.executionId, seq: s.seq, id: { not: s.id } },
      select: { assigneeId: true },
    });
    const holders = siblings.flatMap((x) => (x.assigneeId ? [x.assigneeId] : []));
    const candidates = await loadCandidates(tx.sql, network, now);
    const choice = chooseAgent(strategyOf(network), (s.requires as string[] | null) ?? [], candidates, {
      cursor: network.rrCursor,
      exclude: holders,
      avoid,
      // Copies of one subtask never share a host (README "Verification").
      excludeHosts: await agentHosts(tx.sql, holders),
    });
    if (choice.cursor !== network.rrCursor) await tx.agentNetwork.update({ where: { id: network.id }, data: { rrCursor: choice.cursor } });
    return {
      assigneeId: choice.agentId,
      claimBy: later(now, network.claimTimeoutSeconds),
      retry: { baseSeconds: network.retryBaseSeconds, maxSeconds: network.retryMaxSeconds },
    };
  }

  async settle(tx: Tx, executionId: string, replicas: SubtaskRow[], now: Date): Promise<void> {
    const rules = (await this.strategies(tx, [executionId])).get(executionId);
    if (!rules) return;
    const { strategy, verification } = rules;
    if (verification) return this.verified.settle(tx, executionId, replicas, strategy, verification, now);
    if (!isReplicated(strategy)) {
      // One replica per subtask: a result decides it; a failure fails the execution.
      const completed = replicas.filter((s) => s.status === 'completed');
      if (completed.length > 0) {
        await tx.sql.run(sql`UPDATE "subtasks" SET "accepted" = ${true} WHERE "id" ${inList(completed.map((s) => s.id))}`);
        await countDecided(tx.sql, executionId, completed.length);
      }
      const failed = replicas.find((s) => s.status === 'failed');
      if (failed) {
        const execution = await lockExecution(tx, executionId, now);
        if (execution) await this.fail(tx, execution, `subtask ${failed.seq} failed: ${failed.error ?? 'no reason given'}`, now, failed);
      }
      return;
    }
    const network = await this.network(tx, executionId);
    const execution = await lockExecution(tx, executionId, now);
    if (!execution || !network) return;
    for (const seq of new Set(replicas.map((s) => s.seq))) {
      if (isFinished((await tx.agentNetworkExecution.findUniqueOrThrow({ where: { id: executionId }, select: { status: true } })).status))
        return;
      await this.decideSubtask(tx, execution, network, seq, now);
    }
  }

  /**
   * After a replica of subtask `seq` finished, decide what the subtask's
   * result is (or that it needs another replica, or failed). Call with the
   * execution locked.
   */
  private async decideSubtask(tx: Tx, execution: ExecutionRow, network: NetworkRow, seq: number, now: Date): Promise<void> {
    const replicas = await tx.subtask.findMany({ where: { executionId: execution.id, seq }, orderBy: { replica: 'asc' } });
    if (replicas.some((r) => r.accepted)) return;
    const policy = replicaPolicy(strategyOf(network), networkSettings(network), (network.agents as string[]).length);
    const live = replicas.filter((r) => r.status !== 'cancelled');
    const outcomes = live.map(outcomeOf);
    const requires = (replicas[0]?.requires as string[] | null) ?? [];

    let canAdd = false;
    if (policy.kind === 'quorum' && outcomes.every((o) => o.state !== 'open')) {
      const holders = new Set(replicas.map((r) => r.assigneeId));
      canAdd = (await loadCandidates(tx.sql, network, now)).some((c) => isCapable(c, requires) && !holders.has(c.id));
    }

    let decision = decideReplicas(outcomes, policy, canAdd);
    // When the candidates changed since canAdd was computed, decide without another replica.
    if (decision.state === 'add_replica' && !(await this.addReplica(tx, network, replicas, now)))
      decision = decideReplicas(outcomes, policy, false);
    if (decision.state === 'waiting' || decision.state === 'add_replica') return;
    if (decision.state === 'failed') {
      // The workers' own words say more than "the subtask failed": quote the last one.
      const lastError = live.filter((r) => r.status === 'failed' && r.error).at(-1)?.error;
      const detail = lastError && decision.reason !== lastError ? `${decision.reason} (last error: ${lastError})` : decision.reason;
      const dead = live.filter((r) => r.status === 'failed').at(-1) ?? live.at(-1)!;
      return this.fail(tx, execution, `subtask ${seq} failed: ${detail}`, now, { ...dead, error: detail });
    }

    const winner = live.find((r) => r.replica === decision.winner)!;
    await tx.subtask.updateMany({ where: { id: winner.id }, data: { accepted: true } });
    if (live.some((r) => OPEN_STATES.includes(r.status))) await this.work.cancelOpen(tx, { executionId: execution.id }, seq, now);
    await tx.agentNetworkExecution.update({
      where: { id: execution.id },
      data: { replicatedDecided: { increment: 1 }, disagreements: { increment: decision.distinct > 1 ? 1 : 0 } },
    });
    await replicasDecided(tx, execution.networkId, decision.distinct > 1);
    await countDecided(tx.sql, execution.id, 1);
  }

  /** One more replica of a disputed subtask, on an agent (and host) that holds none of it yet. False when nobody can take it. */
  private async addReplica(tx: Tx, network: NetworkRow, replicas: SubtaskRow[], now: Date): Promise<boolean> {
    return (await addCopies(tx, this.work, network, replicas, 1, now)) > 0;
  }

  /** A subtask failed for good: the execution fails and its remaining work is withdrawn. Call with the execution locked. */
  /** The execution fails; the subtask that failed it (`failed`) is kept as a dead letter, to be redriven. */
  private async fail(tx: Tx, execution: ExecutionRow, error: string, now: Date, failed?: SubtaskRow): Promise<void> {
    if (failed) {
      await recordDeadLetter(tx.sql, execution, failed, failed.error ?? error, now);
      tx.afterCommit(() => void this.work.outcomes.deadLettered++);
    }
    await this.work.cancelOpen(tx, { executionId: execution.id }, null, now);
    await tx.agentNetworkExecution.update({
      where: { id: execution.id },
      data: { status: 'failed', error, failedCount: { increment: 1 }, completedAt: now },
    });
    await executionEnded(tx, execution.networkId, 'failed', execution.createdAt, now);
  }

  /**
   * Attempts ended, of many executions at once: each agent's counts and task
   * time per network, and each network's completions of this minute (with
   * the latest time, the network's last activity), each on this
   * connection's shard, in one statement each.
   */
  async attemptsEnded(tx: Tx, ended: ReadonlyMap<string, EndedAttempt[]>, now: Date): Promise<void> {
    const unknown = [...ended.keys()].filter((id) => !this.networkOf.has(id));
    if (unknown.length > 0)
      for (const r of await tx.sql.all<{ id: string; network_id: string }>(
        sql`SELECT "id", "network_id" FROM "agent_network_executions" WHERE "id" ${inList(unknown)}`,
      ))
        this.remember(r.id, r.network_id);
    const byAgent = new Map<
      string,
      { networkId: string; agentId: string; completed: number; failed: number; expired: number; seconds: number }
    >();
    const byNetwork = new Map<string, { networkId: string; completed: number }>();
    for (const [executionId, attempts] of ended) {
      const networkId = this.networkOf.get(executionId);
      if (!networkId) continue;
      const network = byNetwork.get(networkId) ?? { networkId, completed: 0 };
      network.completed += attempts.filter((a) => a.outcome === 'completed').length;
      byNetwork.set(networkId, network);
      for (const a of attempts) {
        const key = `${networkId}\n${a.assigneeId}`;
        const n = byAgent.get(key) ?? { networkId, agentId: a.assigneeId, completed: 0, failed: 0, expired: 0, seconds: 0 };
        n[a.outcome]++;
        n.seconds += a.seconds;
        byAgent.set(key, n);
      }
    }
    if (byNetwork.size === 0) return;
    const inOrder = <T>(m: Map<string, T>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v);
    await tx.sql.run(sql`
      INSERT INTO "network_agent_stats" ("network_id", "agent_id", "shard", "completed", "failed", "expired", "task_seconds")
      VALUES ${join(inOrder(byAgent).map((n) => sql`(${n.networkId}, ${n.agentId}, ${shard}, ${n.completed}, ${n.failed}, ${n.expired}, ${n.seconds})`))}
      ON CONFLICT ("network_id", "agent_id", "shard") DO UPDATE SET
        "completed" = "network_agent_stats"."completed" + excluded."completed", "failed" = "network_agent_stats"."failed" + excluded."failed",
        "expired" = "network_agent_stats"."expired" + excluded."expired", "task_seconds" = "network_agent_stats"."task_seconds" + excluded."task_seconds"`);
    const minute = Math.floor(now.getTime() / 60_000);
    await tx.sql.run(sql`
      INSERT INTO "network_minutes" ("network_id", "minute", "shard", "completed", "last_at")
      VALUES ${join(inOrder(byNetwork).map((n) => sql`(${n.networkId}, ${minute}, ${shard}, ${n.completed}, ${now})`))}
      ON CONFLICT ("network_id", "minute", "shard") DO UPDATE SET
        "completed" = "network_minutes"."completed" + excluded."completed", "last_at" = excluded."last_at"`);
  }

  /**
   * The sweep's backstop: live executions whose every subtask is decided,
   * but whose follow-up after the last result never ran (the instance
   * stopped between the commit and it).
   */
  async finishStranded(db: Database, now: Date): Promise<{ finished: number }> {
    const stranded = await db.run((_, q) =>
      q.all<{ id: string }>(sql`
        SELECT e."id" FROM "agent_network_executions" e
        WHERE e."status" IN ('queued', 'running')
          AND e."subtask_count" <= ${decidedOf('e')}
        LIMIT 100`),
    );
    await this.finishIfDone(
      db,
      stranded.map((e) => e.id),
      now,
    );
    return { finished: stranded.length };
  }

  /** Those of these executions whose subtasks are all decided: completed, their results aggregated (completion.ts). */
  finishIfDone(db: Database, ids: string[], now: Date): Promise<Map<string, string>> {
    return completeDecided(db, ids, now, (e) => this.work.announce({ owner_id: e.ownerId, network_id: e.networkId, execution_id: e.id }));
  }

  /** The live executions of the agent's networks that let it take others' work (README "Stragglers"). */
  async openTo(db: Sql, ownerId: string, agentId: string, now: Date, only?: string[]): Promise<OpenParent[]> {
    const networks = await db.all<Record<string, unknown>>(sql`
      SELECT "id", "agents", "coordination_strategy", "work_stealing", "speculation", "speculation_multiplier", "speculation_quantile"
      FROM "agent_networks" WHERE "owner_id" = ${ownerId} AND ("work_stealing" OR "speculation")`);
    const mine = new Map(networks.filter((n) => fromJson<string[]>(n.agents).includes(agentId)).map((n) => [n.id as string, n]));
    if (mine.size === 0) return [];
    // A quarantined agent takes no one's work (README "Verification"); asked only when there is work it could take.
    if ((await quarantinedAmong(db, [agentId], now)).size > 0) return [];
    const live = await db.all<{ id: string; network_id: string; subtask_count: unknown; decided: unknown }>(sql`
      SELECT e."id", e."network_id", e."subtask_count",
        ${decidedOf('e')} AS "decided"
      FROM "agent_network_executions" e WHERE e."network_id" ${inList([...mine.keys()])} AND e."status" IN ('queued', 'running')
        ${only ? sql`AND e."id" ${inList(only)}` : sql``}`);
    return live.map((e) => {
      const n = mine.get(e.network_id)!;
      return {
        id: e.id,
        stealing: flag(n.work_stealing),
        speculation: flag(n.speculation)
          ? { multiplier: Number(n.speculation_multiplier), quantile: Number(n.speculation_quantile) }
          : null,
        strategy: n.coordination_strategy as string,
        decidedShare: Number(e.decided) / Math.max(1, Number(e.subtask_count)),
        assignees: fromJson<string[]>(n.agents),
      };
    });
  }

  /**
   * The agent must have the capabilities a subtask requires. Under
   * `centralized` the strategy decides again: the agent takes a subtask only
   * if, by measured task times, it would finish it sooner than its assignee.
   */
  async mayTake(db: Sql, agentId: string, candidates: Takeable[], open: OpenParent[]): Promise<Takeable[]> {
    const requiring = candidates.some((c) => c.requires.length > 0);
    const agent = requiring
      ? await db.one<{ capabilities: unknown }>(sql`SELECT "capabilities" FROM "agents" WHERE "id" = ${agentId}`)
      : null;
    const capabilities = fromJson<string[] | null>(agent?.capabilities) ?? [];
    const capable = requiring ? candidates.filter((c) => isCapable({ capabilities }, c.requires)) : candidates;
    const strategy = new Map(open.map((p) => [p.id, p.strategy]));
    const central = capable.filter((c) => strategy.get(c.parentId) === 'centralized');
    if (central.length === 0) return capable;
    const assignees = [...new Set(central.map((c) => c.assigneeId))];
    const [speeds, load] = await Promise.all([meanTaskSeconds(db, [agentId, ...assignees]), openLoad(db, assignees)]);
    return capable.filter(
      (c) =>
        strategy.get(c.parentId) !== 'centralized' ||
        finishesSooner(speeds.get(agentId) ?? null, speeds.get(c.assigneeId) ?? null, load.get(c.assigneeId) ?? 0),
    );
  }

  backups(tx: Tx, executionId: string, by: BackupCounts): Promise<void> {
    return countBackups(tx.sql, 'agent_network_executions', executionId, by);
  }

  decidingAlone(now: Date): DecidingAlone {
    return {
      ...executionsDecidingAlone(now),
      decided: async (tx, rows) => {
        const byExecution = new Map<string, number>();
        for (const s of rows) if (s.executionId) byExecution.set(s.executionId, (byExecution.get(s.executionId) ?? 0) + 1);
        await countDecidedOf(tx.sql, byExecution);
      },
    };
  }
}

/** Cancel a live execution: its open work is withdrawn. */
export async function cancelExecution(
  tx: Tx,
  work: WorkEngine,
  ownerId: string,
  networkId: string,
  executionId: string,
  now: Date,
): Promise<ExecutionView> {
  const execution = await tx.agentNetworkExecution.findFirst({ where: { id: executionId, networkId, ownerId } });
  if (!execution) throw executionNotFound(executionId);
  const locked = await lockExecution(tx, executionId, now);
  if (!locked) throw conflict(`Execution ${executionId} is already ${execution.status}`);
  await work.cancelOpen(tx, { executionId }, null, now);
  const cancelled = await tx.agentNetworkExecution.update({ where: { id: executionId }, data: { status: 'cancelled', completedAt: now } });
  await executionEnded(tx, cancelled.networkId, 'cancelled', cancelled.createdAt, now);
  const subtasks = await tx.subtask.findMany({ where: { executionId }, orderBy: [{ seq: 'asc' }, { replica: 'asc' }] });
  return toExecutionView(cancelled, subtasks, (await decidedCounts(tx, [executionId])).get(executionId) ?? 0);
}

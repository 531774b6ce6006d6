/**
 * An execution's verified subtasks (README "Verification"): the policy it
 * was submitted under, a subtask's copies decided, a caught host's results
 * taken on trust checked again, and the results that count. Called by the
 * ExecutionParent (executions.ts) with the execution locked.
 */
import {
  type CoordinationStrategy,
  type DecidedSubtask,
  isReplicated,
  type ExecutionResults,
  type Reducer,
  type VerificationInput,
  type VerificationSettings,
  verificationSettings,
  verifiedResults as verifiedExecutionResults,
} from '@aitbc/core';
import type { Database, Tx } from '../db/database.ts';
import { flag, fromJson, inList, sql } from '../db/sql.ts';
import { replicasDecided, verifiedDecided } from '../stats.ts';
import { TRUSTED, verifySubtask } from '../verification/decision.ts';
import type { WorkEngine } from '../work/engine.ts';
import { type SubtaskRow, subtaskColumns, subtaskFrom } from '../work/subtasks.ts';
import { addCopies, countDecided } from './copies.ts';
import type { ExecutionRow, NetworkRow } from './views.ts';

/** The policy an execution runs under (null: none), from its snapshot (JSON text read raw, or a value through Prisma). */
export function executionPolicy(stored: unknown): VerificationSettings | null {
  const input = (typeof stored === 'string' ? fromJson(stored) : stored) as VerificationInput | null;
  if (!input) return null;
  const settings = verificationSettings(input);
  return settings.policy === 'none' ? null : settings;
}

export interface VerifyHooks {
  /** The network's strategy (a replicated one also counts its disagreements). */
  strategy: CoordinationStrategy;
  /** The subtask failed for good: the execution fails, and `dead` (its last failed copy) is kept as a dead letter. */
  fail(reason: string, dead?: SubtaskRow): Promise<void>;
  /** Trusted hosts a quorum caught with an invalid result: their results taken on trust are checked again (after commit). */
  caught(hosts: string[]): void;
  /** Hosts a quorum made trusted: their results awaiting a check no copy has started are decided on trust (after commit). */
  trusted(hosts: string[]): void;
}

/** The rows of one subtask, in replica order, with their results and payloads. */
async function copiesOf(tx: Tx, executionId: string, seq: number): Promise<SubtaskRow[]> {
  const rows = await tx.sql.all(sql`
    SELECT ${subtaskColumns()} FROM "subtasks" WHERE "execution_id" = ${executionId} AND "seq" = ${seq} ORDER BY "replica"`);
  return rows.map(subtaskFrom);
}

/** The network an execution's decisions read, once per transaction: only placing copies needs its row. */
export type NetworkOf = () => Promise<NetworkRow>;

/** Decide subtask `seq` of a verified execution. Call with the execution locked. */
export async function decideVerified(
  tx: Tx,
  deps: { db: Database; work: WorkEngine },
  execution: ExecutionRow,
  network: NetworkOf,
  seq: number,
  settings: VerificationSettings,
  hooks: VerifyHooks,
  now: Date,
): Promise<void> {
  const rows = await copiesOf(tx, execution.id, seq);
  const verified = await verifySubtask(
    tx,
    deps,
    { kind: 'agent', ownerId: execution.ownerId, parent: { executionId: execution.id }, source: { execution_id: execution.id } },
    rows,
    settings,
    async (count, behind) => addCopies(tx, deps.work, await network(), rows, count, now, behind),
    now,
  );
  if (verified.state === 'decided' || verified.state === 'waiting') return;
  if (verified.state === 'failed') {
    // The workers' own words say more than "every copy failed": quote the last one.
    const dead = rows.filter((r) => r.status === 'failed').at(-1) ?? rows.at(-1);
    const lastError = rows.filter((r) => r.status === 'failed' && r.error).at(-1)?.error;
    const reason = `${verified.reason}${lastError ? ` (last error: ${lastError})` : ''}`;
    return hooks.fail(`subtask ${seq} failed: ${reason}`, dead && { ...dead, error: reason });
  }
  const validated = verified.state === 'validated' ? 1 : 0;
  await countDecided(tx.sql, execution.id, 1);
  await verifiedDecided(tx, 'agent_networks', execution.networkId, { validated, inconclusive: 1 - validated, ...verified.counts });
  // A replicated strategy's disagreement rate counts its subtasks as before: copies that did not all agree.
  if (rows.length > 1 && isReplicated(hooks.strategy))
    await replicasDecided(tx, execution.networkId, verified.state === 'inconclusive' || verified.counts.invalid > 0);
  if (verified.state === 'validated' && verified.checked.caught.length > 0) hooks.caught(verified.checked.caught);
  if (verified.state === 'validated' && verified.checked.trusted.length > 0) hooks.trusted(verified.checked.trusted);
}

/** What is done with one host's results in one locked, live execution (decideOnTrust, reopenTrusted): how many. */
type HostResults = (
  tx: Tx,
  deps: { db: Database; work: WorkEngine },
  execution: ExecutionRow,
  network: NetworkOf,
  hostId: string,
  seqs: number[],
  settings: VerificationSettings,
  hooks: VerifyHooks,
  now: Date,
) => Promise<number>;

/**
 * A host's results in live executions that await a check no copy has started (every other copy unclaimed), by
 * execution: once it is trusted, they may be decided on its trust as its next results would be.
 */
export async function awaitingUnstarted(db: Database, hostId: string): Promise<Map<string, number[]>> {
  const rows = await db.run((_, q) =>
    q.all<{ execution_id: string; seq: unknown }>(sql`
      SELECT s."execution_id", s."seq" FROM "subtasks" s JOIN "agent_network_executions" e ON e."id" = s."execution_id"
      WHERE s."assignee_id" = ${hostId} AND s."status" = 'completed' AND s."validation" = 'pending'
        AND e."status" IN ('queued', 'running')
        AND NOT EXISTS (SELECT 1 FROM "subtasks" o WHERE o."execution_id" = s."execution_id" AND o."seq" = s."seq"
          AND o."id" <> s."id" AND o."status" NOT IN ('assigned', 'cancelled'))`),
  );
  return byExecution(rows);
}

/**
 * Decide on trust these subtasks of a locked, live execution whose one result is the newly trusted host's and whose
 * checking copies nobody has started: the copies are withdrawn and the result decided as a trusted host's is (the
 * spot-check draw included: a drawn one gets its copy back). Checked again here, under the lock.
 */
export const decideOnTrust: HostResults = async (tx, deps, execution, network, hostId, seqs, settings, hooks, now) => {
  // Trust decides only under adaptive.
  if (settings.policy !== 'adaptive') return 0;
  let decided = 0;
  for (const seq of seqs) {
    const rows = await copiesOf(tx, execution.id, seq);
    const mine = rows.filter((r) => r.assigneeId === hostId && r.status === 'completed' && r.validation === 'pending');
    const others = rows.filter((r) => !mine.includes(r) && r.status !== 'cancelled');
    if (mine.length !== 1 || others.some((r) => r.status !== 'assigned')) continue;
    await deps.work.cancelOpen(tx, { executionId: execution.id }, seq, now);
    await decideVerified(tx, deps, execution, network, seq, settings, hooks, now);
    decided++;
  }
  return decided;
};

/** Subtask seqs by their execution. */
function byExecution(rows: { execution_id: string; seq: unknown }[]): Map<string, number[]> {
  const by = new Map<string, number[]>();
  for (const r of rows) by.set(r.execution_id, [...(by.get(r.execution_id) ?? []), Number(r.seq)]);
  return by;
}

/** A caught host's results in live executions that were taken on its trust alone, by execution. */
export async function takenOnTrust(db: Database, hostId: string): Promise<Map<string, number[]>> {
  const rows = await db.run((_, q) =>
    q.all<{ execution_id: string; seq: unknown }>(sql`
      SELECT s."execution_id", s."seq" FROM "subtasks" s JOIN "agent_network_executions" e ON e."id" = s."execution_id"
      WHERE s."assignee_id" = ${hostId} AND s."status" = 'completed' AND s."validation" = ${TRUSTED} AND s."accepted" = ${true}
        AND e."status" IN ('queued', 'running')`),
  );
  return byExecution(rows);
}

/**
 * Reopen these subtasks of a locked, live execution: a result its host's trust alone validated is pending again
 * (no longer counted, nor decided), and is decided again, now that the host is untrusted: another copy checks it.
 */
export const reopenTrusted: HostResults = async (tx, deps, execution, network, hostId, seqs, settings, hooks, now) => {
  const reopened = await tx.sql.all<{ seq: unknown }>(sql`
    UPDATE "subtasks" SET "accepted" = ${false}, "validation" = 'pending', "updated_at" = ${now}
    WHERE "execution_id" = ${execution.id} AND "seq" ${inList(seqs)} AND "assignee_id" = ${hostId} AND "validation" = ${TRUSTED}
      AND "accepted" = ${true}
    RETURNING "seq"`);
  if (reopened.length === 0) return 0;
  await countDecided(tx.sql, execution.id, -reopened.length);
  await verifiedDecided(tx, 'agent_networks', execution.networkId, {
    validated: -reopened.length,
    inconclusive: 0,
    results: -reopened.length,
    replicas: 0,
    invalid: 0,
  });
  for (const r of reopened) await decideVerified(tx, deps, execution, network, Number(r.seq), settings, hooks, now);
  return reopened.length;
};

/** A verified execution's results: only validated ones count; an inconclusive subtask is null in its place and left out of the reduce. */
export async function verifiedResults(tx: Tx, executionId: string, reduce: Reducer | null): Promise<ExecutionResults> {
  const rows = await tx.sql.all<{ seq: unknown; result: unknown; accepted: unknown }>(sql`
    SELECT "seq", "result", "accepted" FROM "subtasks"
    WHERE "execution_id" = ${executionId} AND ("accepted" = ${true} OR "validation" = 'inconclusive') ORDER BY "seq", "replica"`);
  const bySeq = new Map<number, DecidedSubtask>();
  for (const r of rows) {
    const seq = Number(r.seq);
    const validated = flag(r.accepted);
    if (validated || !bySeq.has(seq)) bySeq.set(seq, { seq, validated, result: validated ? fromJson(r.result) : null });
  }
  return verifiedExecutionResults([...bySeq.values()], reduce);
}

/** What the verified executions need of their parent (executions.ts): its reads, its lock, and failing one. */
export interface ExecutionAccess {
  db: Database;
  work: WorkEngine;
  network(tx: Tx, executionId: string): Promise<NetworkRow | null>;
  lock(tx: Tx, executionId: string, now: Date): Promise<ExecutionRow | null>;
  fail(tx: Tx, execution: ExecutionRow, reason: string, now: Date, dead?: SubtaskRow): Promise<void>;
}

/** The ExecutionParent's settling of verified executions, and the rechecks a caught host starts. */
export class VerifiedExecutions {
  constructor(private readonly parent: ExecutionAccess) {}

  private get deps() {
    return { db: this.parent.db, work: this.parent.work };
  }

  /** Results of a verified execution: each subtask they belong to is decided by its copies. */
  async settle(
    tx: Tx,
    executionId: string,
    replicas: SubtaskRow[],
    strategy: CoordinationStrategy,
    verification: VerificationSettings,
    now: Date,
  ): Promise<void> {
    const execution = await this.parent.lock(tx, executionId, now);
    if (!execution) return;
    const hooks = this.hooks(tx, execution, strategy, now);
    const network = this.networkOnce(tx, executionId);
    for (const seq of new Set(replicas.map((s) => s.seq))) {
      // A subtask that failed for good failed the execution: nothing more is decided.
      if (hooks.failed) return;
      await decideVerified(tx, this.deps, execution, network, seq, verification, hooks, now);
    }
  }

  /**
   * Trusted hosts a quorum caught with an invalid result: each of their results in live executions that was
   * taken on their trust alone is checked again (another copy), one execution at a time under its lock. An
   * execution that completed before this ran keeps what it had (the residual the README states).
   */
  recheck(hosts: string[], now: Date): Promise<void> {
    return this.eachExecution(hosts, takenOnTrust, reopenTrusted, now);
  }

  /**
   * Hosts a quorum made trusted: each of their results in live executions that awaits a check no copy has started
   * is decided on their trust, one execution at a time under its lock (adaptive only: the one policy with trust).
   */
  trustPending(hosts: string[], now: Date): Promise<void> {
    return this.eachExecution(hosts, awaitingUnstarted, decideOnTrust, now);
  }

  /** For each host, each live verified execution `find` names with its subtasks: `act` in a transaction, under its lock. */
  private async eachExecution(
    hosts: string[],
    find: (db: Database, host: string) => Promise<Map<string, number[]>>,
    act: HostResults,
    now: Date,
  ): Promise<void> {
    for (const host of hosts) {
      for (const [executionId, seqs] of await find(this.parent.db, host)) {
        await this.parent.db.transaction(async (tx) => {
          const execution = await this.parent.lock(tx, executionId, now);
          const verification = execution ? executionPolicy(execution.verification) : null;
          if (!execution || !verification) return;
          const network = this.networkOnce(tx, executionId);
          const hooks = this.hooks(tx, execution, (await network()).coordinationStrategy as CoordinationStrategy, now);
          await act(tx, this.deps, execution, network, host, seqs, verification, hooks, now);
        });
      }
    }
  }

  /** The execution's network, read at most once (and only if a decision places copies). */
  private networkOnce(tx: Tx, executionId: string): NetworkOf {
    let read: Promise<NetworkRow> | null = null;
    return () =>
      (read ??= this.parent.network(tx, executionId).then((n) => {
        if (!n) throw new Error(`execution ${executionId} has no network`);
        return n;
      }));
  }

  private hooks(tx: Tx, execution: ExecutionRow, strategy: CoordinationStrategy, now: Date): VerifyHooks & { failed: boolean } {
    const hooks = {
      strategy,
      failed: false,
      fail: async (reason: string, dead?: SubtaskRow) => {
        hooks.failed = true;
        await this.parent.fail(tx, execution, reason, now, dead);
      },
      caught: (hosts: string[]) => tx.afterCommit(() => this.recheck(hosts, now)),
      trusted: (hosts: string[]) => tx.afterCommit(() => this.trustPending(hosts, now)),
    };
    return hooks;
  }
}

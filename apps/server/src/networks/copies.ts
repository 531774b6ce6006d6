/**
 * An execution's subtask rows and their copies: a new subtask row from the
 * network's settings, the count of decided subtasks, and more copies of a
 * subtask placed by the network's strategy on hosts holding none of it.
 */
import { randomUUID } from 'node:crypto';
import { chooseAgent, type CoordinationStrategy } from '@aitbc/core';
import { later } from '../clock.ts';
import type { Tx } from '../db/database.ts';
import { join, raw, type Sql, shard, sql } from '../db/sql.ts';
import type { WorkEngine } from '../work/engine.ts';
import type { NewSubtask } from '../work/sql/insert.ts';
import type { SubtaskRow } from '../work/subtasks.ts';
import { agentHosts, loadCandidates } from './candidates.ts';
import type { NetworkRow } from './views.ts';
import { doubtedAmong } from '../verification/records.ts';

/** `n` more subtasks of the execution are decided (on this connection's shard); negative when one is reopened. */
export function countDecided(db: Sql, executionId: string, n: number): Promise<void> {
  return countDecidedOf(db, new Map([[executionId, n]]));
}

/** Subtasks decided per execution, in one statement (executions in id order, the order their rows are locked in). */
export async function countDecidedOf(db: Sql, decided: ReadonlyMap<string, number>): Promise<void> {
  if (decided.size === 0) return;
  const rows = [...decided].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, n]) => sql`(${id}, ${shard}, ${n})`);
  await db.run(sql`
    INSERT INTO "execution_progress" ("execution_id", "shard", "decided") VALUES ${join(rows)}
    ON CONFLICT ("execution_id", "shard") DO UPDATE SET "decided" = "execution_progress"."decided" + excluded."decided"`);
}

/** The subtasks decided of the execution `e` names (its progress shards summed), as a column of a query over it. */
export const decidedOf = (e: string) =>
  sql`(SELECT COALESCE(SUM(p."decided"), 0) FROM "execution_progress" p WHERE p."execution_id" = ${raw(`${e}."id"`)})`;

/** A new subtask of an execution, assigned to `agentId` now: its claim window, attempts and lease from the network's settings. */
export function executionSubtask(
  network: NetworkRow,
  executionId: string,
  s: Pick<NewSubtask, 'seq' | 'replica' | 'payload' | 'requires' | 'priorityRank' | 'createdAt'> & {
    agentId: string;
    /** A replica keeps its subtask's, which the network may have changed since. */
    maxAttempts?: number;
  },
  now: Date,
): NewSubtask {
  return {
    id: randomUUID(),
    ownerId: network.ownerId,
    networkId: network.id,
    executionId,
    coordinationId: null,
    swarmId: null,
    seq: s.seq,
    replica: s.replica,
    payload: s.payload,
    requires: s.requires,
    priorityRank: s.priorityRank,
    assigneeId: s.agentId,
    claimBy: later(now, network.claimTimeoutSeconds),
    maxAttempts: s.maxAttempts ?? network.maxAttempts,
    leaseSeconds: network.leaseSeconds,
    maxAttemptSeconds: network.maxAttemptSeconds,
    createdAt: s.createdAt,
  };
}

/**
 * Up to `count` more copies of a subtask (`copies`: every row of it so far), each on an agent holding none of it
 * and on another host than any copy's, chosen by the network's strategy; a doubted agent (never validated, or an
 * invalid result among its last checked ones) only when nobody else can (README "Verification"). They keep the
 * subtask's place in the queue, or with `behind` go to the back of it (a check that its host's trust may make
 * unneeded: README "A host made trusted").
 * Returns how many were placed (0 when nobody can take one).
 */
export async function addCopies(
  tx: Tx,
  work: WorkEngine,
  network: NetworkRow,
  copies: SubtaskRow[],
  count: number,
  now: Date,
  behind = false,
): Promise<number> {
  const first = copies[0]!;
  const requires = (first.requires as string[] | null) ?? [];
  const holders = copies.flatMap((r) => (r.assigneeId ? [r.assigneeId] : []));
  const candidates = await loadCandidates(tx.sql, network, now);
  const hosts = await agentHosts(tx.sql, holders);
  const doubted = await doubtedAmong(
    tx.sql,
    candidates.map((c) => c.id),
  );
  let cursor = network.rrCursor;
  let replica = Math.max(...copies.map((r) => r.replica));
  const rows: NewSubtask[] = [];
  for (let i = 0; i < count; i++) {
    const choice = chooseAgent(network.coordinationStrategy as CoordinationStrategy, requires, candidates, {
      cursor,
      exclude: holders,
      avoid: doubted,
      excludeHosts: hosts,
    });
    if (!choice.agentId) break;
    cursor = choice.cursor;
    holders.push(choice.agentId);
    const host = candidates.find((c) => c.id === choice.agentId)?.host;
    if (host) hosts.push(host);
    // The new copy counts toward its agent's load for the next choice.
    const chosen = candidates.find((c) => c.id === choice.agentId);
    if (chosen) chosen.open++;
    rows.push(
      executionSubtask(
        network,
        first.executionId!,
        {
          seq: first.seq,
          replica: ++replica,
          agentId: choice.agentId,
          payload: first.payload,
          requires,
          priorityRank: first.priorityRank,
          maxAttempts: first.maxAttempts,
          // Its place in the queue is the subtask's original one, or the back.
          createdAt: behind ? now : first.createdAt,
        },
        now,
      ),
    );
  }
  if (cursor !== network.rrCursor) {
    await tx.agentNetwork.update({ where: { id: network.id }, data: { rrCursor: cursor } });
    network.rrCursor = cursor;
  }
  await work.enqueue(tx, rows, now);
  return rows.length;
}

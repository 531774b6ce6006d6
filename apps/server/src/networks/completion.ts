/**
 * Executions completed once every subtask is decided (WorkParent.finishIfDone), many in one transaction.
 *
 * One results request can decide the last subtask of many executions at once: a worker draining a stream of
 * one-subtask executions posts them in batches. Completed one at a time, each cost a read and a transaction of its
 * own, and the request waited for all of them in turn (bench/README, "Results that complete many executions at
 * once"). Here a batch costs one read, then one transaction of five statements (the locks, the accepted results, the
 * executions' rows, each network's counters, the commit) whatever its size.
 */
import { executionResults, type NetworkTask } from '@aitbc/core';
import type { Database, Tx } from '../db/database.ts';
import { fromJson, inList, join, json, type Sql, sql, time } from '../db/sql.ts';
import { executionsCompleted } from '../stats.ts';
import { decidedOf } from './copies.ts';
import { executionPolicy, verifiedResults } from './verified.ts';

/** Executions completed per transaction (two parameters each in the update). */
const BATCH = 200;

/** An execution locked to be completed, as the lock's statement returns it. */
interface Locked {
  id: string;
  networkId: string;
  ownerId: string;
  task: NetworkTask;
  verified: boolean;
  subtaskCount: number;
  createdAt: Date;
}

/**
 * Completes those of these executions whose subtasks are all decided: results aggregated in task order, reduced when
 * the task asks, the network's counters moved. `completed` runs after the commit for each one completed. Returns the
 * status each execution was left in (absent: not known, as for one found done that this call did not complete).
 */
export async function completeDecided(
  db: Database,
  ids: string[],
  now: Date,
  completed: (execution: { id: string; networkId: string; ownerId: string }) => void,
): Promise<Map<string, string>> {
  const status = new Map<string, string>();
  if (ids.length === 0) return status;
  const states = await db.run((_, q) => progress(q, ids));
  for (const s of states) status.set(s.id, s.status);
  const ready = states
    .filter((s) => (s.status === 'queued' || s.status === 'running') && s.decided >= s.subtaskCount)
    .map((s) => s.id)
    .sort();
  for (let i = 0; i < ready.length; i += BATCH) {
    const batch = ready.slice(i, i + BATCH);
    const done = new Set(await db.transaction((tx) => completeIn(tx, batch, now, completed)));
    // Those it did not complete (another instance did, or a verified one's subtask was reopened): status not known.
    for (const id of batch) {
      if (done.has(id)) status.set(id, 'completed');
      else status.delete(id);
    }
  }
  return status;
}

/** One transaction: the executions locked (in id order), their results read and written, their networks counted. */
async function completeIn(
  tx: Tx,
  ids: string[],
  now: Date,
  completed: (execution: { id: string; networkId: string; ownerId: string }) => void,
): Promise<string[]> {
  const locked = (await lock(tx, ids, now)).sort((a, b) => (a.id < b.id ? -1 : 1));
  if (locked.length === 0) return [];
  const plain = locked.filter((e) => !e.verified).map((e) => e.id);
  const accepted = new Map<string, unknown[]>();
  if (plain.length > 0)
    for (const r of await tx.sql.all<{ execution_id: string; result: unknown }>(sql`
      SELECT "execution_id", "result" FROM "subtasks" WHERE "execution_id" ${inList(plain)} AND "accepted" = ${true}
      ORDER BY "execution_id", "seq"`))
      (accepted.get(r.execution_id) ?? accepted.set(r.execution_id, []).get(r.execution_id)!).push(fromJson(r.result));
  // A verified execution's subtask reopened (its host caught) since the first read is not decided: counted again
  // under the lock.
  const verified = locked.filter((e) => e.verified).map((e) => e.id);
  const recounted = new Map(verified.length > 0 ? (await progress(tx.sql, verified)).map((p) => [p.id, p.decided]) : []);
  const finished: { execution: Locked; results: unknown }[] = [];
  for (const e of locked) {
    const reduce = e.task.reduce ?? null;
    if (!e.verified) finished.push({ execution: e, results: executionResults(accepted.get(e.id) ?? [], reduce) });
    else if ((recounted.get(e.id) ?? 0) >= e.subtaskCount)
      finished.push({ execution: e, results: await verifiedResults(tx, e.id, reduce) });
  }
  if (finished.length === 0) return [];
  await tx.sql.run(sql`
    WITH "done"("id", "results") AS (VALUES ${join(finished.map((f) => sql`(${f.execution.id}, ${json(f.results)})`))})
    UPDATE "agent_network_executions" SET "status" = 'completed', "completed_at" = ${now}, "updated_at" = ${now},
      "results" = "done"."results"
    FROM "done" WHERE "agent_network_executions"."id" = "done"."id"`);
  // Each network's counters in one update, networks in id order (the lock order: executions, then networks).
  const byNetwork = new Map<string, Date[]>();
  for (const { execution: e } of finished) {
    const createdAt = byNetwork.get(e.networkId) ?? [];
    createdAt.push(e.createdAt);
    byNetwork.set(e.networkId, createdAt);
  }
  for (const [networkId, createdAt] of [...byNetwork].sort(([a], [b]) => (a < b ? -1 : 1)))
    await executionsCompleted(tx, networkId, createdAt, now);
  tx.afterCommit(() => {
    for (const { execution: e } of finished) completed(e);
  });
  return finished.map((f) => f.execution.id);
}

/** Each execution's status, subtask count and subtasks decided so far. */
async function progress(q: Sql, ids: string[]): Promise<{ id: string; status: string; subtaskCount: number; decided: number }[]> {
  const rows = await q.all<{ id: string; status: string; subtask_count: unknown; decided: unknown }>(sql`
    SELECT e."id", e."status", e."subtask_count", ${decidedOf('e')} AS "decided"
    FROM "agent_network_executions" e WHERE e."id" ${inList(ids)}`);
  return rows.map((r) => ({ id: r.id, status: r.status, subtaskCount: Number(r.subtask_count), decided: Number(r.decided) }));
}

/** The live ones of these executions, locked (PostgreSQL: in id order, whatever the update's plan) and touched. */
async function lock(tx: Tx, ids: string[], now: Date): Promise<Locked[]> {
  const columns = sql`"id", "network_id", "owner_id", "task", "verification", "subtask_count", "created_at"`;
  const rows =
    tx.sql.dialect === 'postgresql'
      ? await tx.sql.all(sql`
          WITH "locked" AS (SELECT "id" FROM "agent_network_executions" WHERE "id" ${inList(ids)} ORDER BY "id" FOR NO KEY UPDATE)
          UPDATE "agent_network_executions" SET "updated_at" = ${now}
          WHERE "id" IN (SELECT "id" FROM "locked") AND "status" IN ('queued', 'running') RETURNING ${columns}`)
      : await tx.sql.all(sql`
          UPDATE "agent_network_executions" SET "updated_at" = ${now}
          WHERE "id" ${inList(ids)} AND "status" IN ('queued', 'running') RETURNING ${columns}`);
  return rows.map((r) => ({
    id: r.id as string,
    networkId: r.network_id as string,
    ownerId: r.owner_id as string,
    task: fromJson<NetworkTask>(r.task),
    verified: executionPolicy(fromJson(r.verification)) !== null,
    subtaskCount: Number(r.subtask_count),
    createdAt: time(r.created_at),
  }));
}

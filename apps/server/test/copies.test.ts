// No assignee holds two copies of one subtask (two replicas, or a replica and a backup of its sibling): its
// results would count as two hosts agreeing. What a thief or a straggler's backup reads may be stale, so the
// statements that take the work check again under the lock (work/sql/copies.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubtaskRow } from '../src/work/subtasks.ts';
import { workSql } from '../src/work/sql/index.ts';
import { type DatabaseKind, databaseKinds } from './support/databases.ts';
import { restClient } from './support/http.ts';
import { startTestServer, type TestServer } from './support/server.ts';

/** A hybrid network (2 replicas a subtask) of four agents on a server of its own, for one describe block. */
function replicatedNetwork(kind: DatabaseKind) {
  const world = {
    srv: undefined as unknown as TestServer,
    agents: [] as string[],
    /** A fresh execution's subtasks, each as [replica 0, replica 1]. */
    async replicaPairs(): Promise<[SubtaskRow, SubtaskRow][]> {
      const execution = await call('POST', `/api/v1/agents/networks/${networkId}/execute`, {
        task: { items: [1, 2, 3, 4, 5, 6, 7, 8], chunk_size: 1 },
      });
      expect(execution.status).toBe(202);
      const ids = await world.srv.server.db.run((db) =>
        db.subtask.findMany({ where: { executionId: execution.body.id }, select: { id: true } }),
      );
      const all = await world.srv.server.db.run((_, sql) =>
        workSql.readSubtasks(
          sql,
          'alice',
          ids.map((r) => r.id),
        ),
      );
      const bySeq = new Map<number, SubtaskRow[]>();
      for (const s of all) bySeq.set(s.seq, [...(bySeq.get(s.seq) ?? []), s]);
      return [...bySeq.values()].map((pair) => pair.sort((a, b) => a.replica - b.replica) as [SubtaskRow, SubtaskRow]);
    },
    /** A claim (a steal when `ids` are given) in its own transaction. */
    claimAs: (assigneeId: string, ids?: string[]) =>
      world.srv.server.db.transaction((tx) =>
        workSql.claimSubtasks(tx.sql, { ownerId: 'alice', assigneeId, ids, max: 10, leaseSeconds: undefined, now: new Date() }),
      ),
  };
  let call: ReturnType<typeof restClient>;
  let networkId: string;
  beforeAll(async () => {
    world.srv = await startTestServer(kind, { sweepIntervalMs: 60_000 });
    call = restClient(world.srv.url, await world.srv.keyFor('alice'));
    for (const name of ['r1', 'r2', 'r3', 'r4']) world.agents.push((await call('POST', '/api/v1/agents', { name })).body.id);
    const network = await call('POST', '/api/v1/agents/networks', {
      name: 'replicated',
      agents: world.agents,
      coordination_strategy: 'hybrid',
      replication: 2,
      lease_seconds: 3600,
      claim_timeout_seconds: 86_400,
    });
    expect(network.status, JSON.stringify(network.body)).toBe(201);
    networkId = network.body.id;
  });
  afterAll(() => world.srv?.close());
  return world;
}

describe.each(databaseKinds)('copies of one subtask on %s', (kind) => {
  const w = replicatedNetwork(kind);

  it('a thief that holds one replica is not given its sibling, whatever it read before', async () => {
    const [[r0, r1]] = (await w.replicaPairs()) as [[SubtaskRow, SubtaskRow]];
    expect(r0.assigneeId).not.toBe(r1.assigneeId);
    // The holder of replica 0 claims it; replica 1 is still unclaimed, another's.
    expect((await w.claimAs(r0.assigneeId!)).map((s) => s.id)).toContain(r0.id);
    // A steal from a stale read of the candidates: refused under the lock.
    expect(await w.claimAs(r0.assigneeId!, [r1.id])).toEqual([]);
    const [after] = await w.srv.server.db.run((_, sql) => workSql.readSubtasks(sql, 'alice', [r1.id]));
    expect([after!.status, after!.assigneeId]).toEqual(['assigned', r1.assigneeId]);
  });

  it('a backup of a replica is not started on the holder of its sibling', async () => {
    const [[r0, r1]] = (await w.replicaPairs()) as [[SubtaskRow, SubtaskRow]];
    await w.claimAs(r0.assigneeId!);
    await w.claimAs(r1.assigneeId!);
    const backUp = (assigneeId: string) =>
      w.srv.server.db.transaction((tx) =>
        workSql.startBackups(tx.sql, { ownerId: 'alice', assigneeId, ids: [r1.id], leaseSeconds: undefined, now: new Date() }),
      );
    expect(await backUp(r0.assigneeId!)).toEqual([]);
    // Anyone else may back it up.
    const other = w.agents.find((a) => a !== r0.assigneeId && a !== r1.assigneeId)!;
    expect((await backUp(other)).map((s) => s.backupAssigneeId)).toEqual([other]);
  });
});

// Two claims in flight for one thief, each taking a different replica of the same subtask: the second waits for the
// first to commit, then sees it. SQLite runs one transaction at a time, so only PostgreSQL can interleave them.
describe.runIf(databaseKinds.includes('postgresql'))('concurrent copies on postgresql', () => {
  const w = replicatedNetwork('postgresql');

  it('two concurrent steals by one thief take one replica of a subtask, not both', async () => {
    const [[r0, r1]] = (await w.replicaPairs()) as [[SubtaskRow, SubtaskRow]];
    const thief = w.agents.find((a) => a !== r0.assigneeId && a !== r1.assigneeId)!;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let tookFirst!: () => void;
    const taken = new Promise<void>((r) => (tookFirst = r));
    const first = w.srv.server.db.transaction(async (tx) => {
      const rows = await workSql.claimSubtasks(tx.sql, {
        ownerId: 'alice',
        assigneeId: thief,
        ids: [r0.id],
        max: 1,
        leaseSeconds: undefined,
        now: new Date(),
      });
      tookFirst();
      await held;
      return rows;
    });
    await taken;
    const second = w.claimAs(thief, [r1.id]);
    const early = await Promise.race([second.then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), 500))]);
    release();
    expect((await first).map((s) => s.id)).toEqual([r0.id]);
    expect(await second).toEqual([]);
    expect(early).toBe('waiting');
  });
});

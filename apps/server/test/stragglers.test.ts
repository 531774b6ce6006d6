// Stragglers (README "Stragglers"): work stealing and speculative backup
// copies, end to end over HTTP on each database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { checkInvariants } from './support/db-state.ts';
import { restClient } from './support/http.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { sleep } from './support/waiting.ts';

type Call = ReturnType<typeof restClient>;

describe.each(databaseKinds)('stragglers on %s', (kind) => {
  let srv: TestServer;
  let alice: Call;

  let made = 0;
  /** A new agent, live (it has claimed once), so the strategies plan work for it. */
  async function agent(name: string, capabilities: string[] = []) {
    const r = await alice('POST', '/api/v1/agents', { name: `${name}-${++made}`, capabilities });
    expect(r.status).toBe(201);
    expect(await claim(r.body.id)).toBeNull();
    return r.body.id as string;
  }

  async function network(agents: string[], body: Record<string, unknown> = {}) {
    const r = await alice('POST', '/api/v1/agents/networks', { name: `n-${++made}`, agents, ...body });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body as { id: string };
  }

  async function execute(networkId: string, task: unknown) {
    const r = await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, { task });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body as { id: string; subtasks: { assignee_id: string }[] };
  }

  const execution = async (networkId: string, id: string) =>
    (await alice('GET', `/api/v1/agents/networks/${networkId}/executions/${id}`)).body;

  async function claim(agentId: string) {
    const r = await alice('POST', `/api/v1/agents/${agentId}/claim`, {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.subtask as { subtask_id: string; lease_id: string; payload: any; backup: boolean; seq: number } | null;
  }

  const post = (s: { subtask_id: string; lease_id: string }, result: unknown) =>
    alice('POST', `/api/v1/subtasks/${s.subtask_id}/result`, { lease_id: s.lease_id, result });

  /** Claims and answers (the payload's items, doubled) until nothing is left for the agent. */
  async function drain(agentId: string): Promise<number[]> {
    const seqs: number[] = [];
    for (let s = await claim(agentId); s; s = await claim(agentId)) {
      expect(
        (
          await post(
            s,
            s.payload.items.map((x: number) => 2 * x),
          )
        ).status,
      ).toBe(200);
      seqs.push(s.seq);
    }
    return seqs;
  }

  beforeAll(async () => {
    srv = await startTestServer(kind);
    alice = restClient(srv.url, await srv.keyFor('alice'));
  });
  afterAll(() => srv?.close());

  describe('work stealing', () => {
    it('is on by default: an agent with nothing of its own waiting takes the others’ unclaimed work; off, it takes only its own', async () => {
      const [a1, a2, a3] = [await agent('s1'), await agent('s2'), await agent('s3')];
      const on = await network([a1, a2, a3]);
      // Stealing is on by default, and speculation too, conservatively (README "Stragglers").
      expect(on).toMatchObject({ work_stealing: true, speculation: true, speculation_multiplier: 3, speculation_quantile: 0.75 });
      const e = await execute(on.id, { items: [1, 2, 3, 4, 5, 6], chunk_size: 1 });
      expect(new Set(e.subtasks.map((s) => s.assignee_id))).toEqual(new Set([a1, a2, a3]));
      // a1 runs its own two first, then the others'.
      const order = await drain(a1);
      expect(order.slice(0, 2)).toEqual([0, 3]);
      expect([...order].sort()).toEqual([0, 1, 2, 3, 4, 5]);
      const done = await execution(on.id, e.id);
      expect(done.status).toBe('completed');
      expect(done.results.subtask_results).toEqual([[2], [4], [6], [8], [10], [12]]);
      expect(done.subtasks.every((s: any) => s.assignee_id === a1)).toBe(true);

      const off = await network([a1, a2, a3], { work_stealing: false });
      const e2 = await execute(off.id, { items: [1, 2, 3], chunk_size: 1 });
      expect(await drain(a1)).toHaveLength(1);
      expect(await drain(a2)).toHaveLength(1);
      expect(await drain(a3)).toHaveLength(1);
      expect((await execution(off.id, e2.id)).status).toBe('completed');
    });

    it('a high execution behind a flood is taken by whichever agent claims next, before its own; off, by its own agent only', async () => {
      const [a1, a2] = [await agent('u1'), await agent('u2')];
      for (const stealing of [true, false]) {
        const n = await network([a1, a2], { work_stealing: stealing });
        // A flood of normal work on both, then one high subtask planned for one of them.
        const flood = await execute(n.id, { items: Array.from({ length: 10 }, (_, i) => i), chunk_size: 1 });
        const r = await alice('POST', `/api/v1/agents/networks/${n.id}/execute`, { task: { items: [700] }, priority: 'high' });
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        const planned = r.body.subtasks[0].assignee_id as string;
        const other = planned === a1 ? a2 : a1;
        // Noted as urgent (its owner's claims go ahead of its other requests) while unclaimed; off, never.
        expect(srv.server.work.hasUrgent('alice')).toBe(stealing);
        const first = (await claim(other))!;
        if (stealing) expect(first.payload.items, 'the other agent takes the high subtask first').toEqual([700]);
        else expect(first.payload.items).not.toEqual([700]);
        expect(srv.server.work.hasUrgent('alice')).toBe(false);
        await post(
          first,
          first.payload.items.map((x: number) => 2 * x),
        );
        // Taken once: its planned agent's next claim is its own normal work (off: the high subtask, waiting for it).
        const next = (await claim(planned))!;
        expect(next.payload.items[0] === 700).toBe(!stealing);
        await post(
          next,
          next.payload.items.map((x: number) => 2 * x),
        );
        for (const a of [a1, a2]) await drain(a);
        expect((await execution(n.id, r.body.id)).status).toBe('completed');
        expect((await execution(n.id, flood.id)).status).toBe('completed');
        if (stealing) expect((await execution(n.id, r.body.id)).subtasks[0].assignee_id).toBe(other);
      }
    });

    it('never takes a subtask whose capabilities the thief lacks, nor a second replica of one it holds', async () => {
      const [gpu, llm] = [await agent('gpu-only', ['gpu']), await agent('gpu-llm', ['gpu', 'llm'])];
      const n = await network([gpu, llm], { coordination_strategy: 'capability-match' });
      const e = await execute(n.id, { subtasks: [{ requires: ['gpu'], items: [1] }, { requires: ['llm'], items: [2] }, { items: [3] }] });
      const claimed: number[] = [];
      for (let s = await claim(gpu); s; s = await claim(gpu)) {
        claimed.push(s.seq);
        expect((await post(s, 'done')).status).toBe(200);
      }
      expect(claimed).not.toContain(1); // needs llm
      expect(await drain(llm).then((seqs) => seqs.length)).toBeGreaterThan(0);
      expect((await execution(n.id, e.id)).status).toBe('completed');

      // Decentralized: every agent runs a replica of every subtask; one never takes another's replica of the same subtask.
      const replicated = await network([gpu, llm], { coordination_strategy: 'decentralized' });
      const r = await execute(replicated.id, { items: [1, 2], chunk_size: 1 });
      const mine = r.subtasks.filter((s) => s.assignee_id === gpu).length;
      let taken = 0;
      for (let s = await claim(gpu); s; s = await claim(gpu)) {
        taken++;
        expect((await post(s, 'same')).status).toBe(200);
      }
      expect(taken).toBe(mine);
    });

    it('in a swarm task, a selected member takes another selected member’s unclaimed chunks', async () => {
      const members: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await alice('POST', '/swarm/join', { role: 'task-coordinator', capability: `steal-${kind}`, region: 'r' });
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        members.push(r.body.member_id);
      }
      const t = await alice('POST', '/swarm/coordinate', {
        strategy: 'map-reduce',
        parameters: { items: [1, 2, 3, 4, 5, 6], chunk_size: 1, reduce: 'sum', capability: `steal-${kind}` },
      });
      expect(t.status, JSON.stringify(t.body)).toBe(202);
      const first = t.body.assigned_members[0] as string;
      let done = 0;
      for (;;) {
        const c = await alice('POST', `/swarm/members/${first}/claims`, { max: 10 });
        expect(c.status, JSON.stringify(c.body)).toBe(200);
        if (c.body.subtasks.length === 0) break;
        const r = await alice('POST', '/api/v1/subtasks/results', {
          results: c.body.subtasks.map((s: any) => ({ subtask_id: s.subtask_id, lease_id: s.lease_id, result: s.payload.items[0] })),
        });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        done += c.body.subtasks.length;
      }
      expect(done).toBe(6);
      const status = (await alice('GET', `/swarm/tasks/${t.body.task_id}/status`)).body;
      expect(status).toMatchObject({ status: 'completed', result: { reduced: 21 } });
    });
  });

  describe('speculation', () => {
    /** Three agents, three one-item subtasks: a1 claims its own and holds it while a2 and a3 finish theirs. */
    async function straggling(body: Record<string, unknown> = {}) {
      const agents = [await agent('x1'), await agent('x2'), await agent('x3')];
      const n = await network(agents, { speculation: true, speculation_quantile: 0.5, ...body });
      const e = await execute(n.id, { items: [1, 2, 3], chunk_size: 1 });
      const slow = (await claim(agents[0]!))!;
      expect(slow.backup).toBe(false);
      for (const a of agents.slice(1)) {
        const own = (await claim(a))!;
        expect(own.backup).toBe(false);
        expect(
          (
            await post(
              own,
              own.payload.items.map((x: number) => 2 * x),
            )
          ).status,
        ).toBe(200);
      }
      await sleep(100); // now a1's copy has run far past 1.5 × the others' median
      return { agents, n, e, slow };
    }

    it('gives a straggler a backup copy on an idle agent; the backup wins, the first copy is fenced, and the subtask counts once', async () => {
      const { agents, n, e, slow } = await straggling();
      const backup = (await claim(agents[1]!))!;
      expect(backup).toMatchObject({ subtask_id: slow.subtask_id, backup: true, seq: slow.seq });
      expect(backup.lease_id).not.toBe(slow.lease_id);
      expect(await claim(agents[2]!)).toBeNull(); // one backup per subtask

      // Both copies' leases hold and extend until one finishes (each holder beats for its own).
      for (const copy of [slow, backup]) {
        const beat = await alice('POST', '/api/v1/subtasks/heartbeats', {
          leases: [{ subtask_id: copy.subtask_id, lease_id: copy.lease_id }],
        });
        expect(beat.body.leases[0].held).toBe(true);
      }

      expect((await post(backup, [2])).status).toBe(200);
      const late = await post(slow, [2]);
      expect(late.status).toBe(409);
      expect(late.body.message).toMatch(/another copy of the subtask \(a backup\) finished first/);
      const lost = await alice('POST', '/api/v1/subtasks/heartbeats', {
        leases: [{ subtask_id: slow.subtask_id, lease_id: slow.lease_id }],
      });
      expect(lost.body.leases[0]).toMatchObject({ held: false, refusal: 'CANCELLED' });

      const done = await execution(n.id, e.id);
      expect(done).toMatchObject({ status: 'completed', progress: { total: 3, completed: 3, failed: 0 } });
      expect(done.results.subtask_results).toEqual([[2], [4], [6]]);
      expect(done.subtasks.find((s: any) => s.seq === slow.seq).assignee_id).toBe(agents[1]);
      expect(done.speculation.backups_launched).toBe(1);
      expect(done.speculation.backups_won).toBe(1);
      expect(done.speculation.time_saved_seconds).toBeGreaterThan(0.05);

      const metrics = await (await fetch(`${srv.url}/metrics`)).text(); // loopback: no key needed
      expect(metrics).toMatch(/aitbc_backups_total\{event="won"\} [1-9]/);
    });

    it('a backup that loses is fenced: the first copy’s result decides, and the backup’s is refused', async () => {
      const { agents, n, e, slow } = await straggling();
      const backup = (await claim(agents[2]!))!;
      expect(backup).toMatchObject({ subtask_id: slow.subtask_id, backup: true });
      expect((await post(slow, [2])).status).toBe(200);
      const refused = await post(backup, [999]);
      expect(refused.status).toBe(409);
      const done = await execution(n.id, e.id);
      expect(done.status).toBe('completed');
      expect(done.results.subtask_results).toEqual([[2], [4], [6]]);
      expect(done.speculation).toMatchObject({ backups_launched: 1, backups_won: 0, time_saved_seconds: 0 });
    });

    it('when the first copy fails, its backup carries on as the subtask’s lease; nothing goes back to the queue', async () => {
      const { agents, n, e, slow } = await straggling();
      const backup = (await claim(agents[1]!))!;
      expect(backup.backup).toBe(true);
      const failed = await alice('POST', `/api/v1/subtasks/${slow.subtask_id}/fail`, { lease_id: slow.lease_id, error: 'gpu fell over' });
      expect(failed.status).toBe(200);
      const held = (await execution(n.id, e.id)).subtasks.find((s: any) => s.seq === slow.seq);
      expect(held).toMatchObject({ status: 'leased', assignee_id: agents[1] });
      expect((await post(backup, [2])).status).toBe(200);
      expect((await execution(n.id, e.id)).status).toBe('completed');
    });

    it('is off with speculation: false, and waits for quantile of the subtasks to finish', async () => {
      const off = await straggling({ speculation: false });
      expect(await claim(off.agents[1]!)).toBeNull();
      const early = await straggling({ speculation_quantile: 1 });
      expect(await claim(early.agents[1]!)).toBeNull();
    });

    it('leaves the work tables consistent: every open attempt is a held lease or a running backup, claims counted apart from backups', async () => {
      expect(await checkInvariants(srv.server.db)).toEqual([]);
    });
  });
});

// The sweep finds a first lease run out while a backup copy runs, and would promote the backup; meanwhile the first
// lease is extended (its heartbeat was in flight), so the promotion does not happen. The backup runs on, and when it
// wins, its win and its completion count. PostgreSQL only: a row lock holds the sweep between its read and its
// promotion, where the heartbeat lands.
describe.runIf(databaseKinds.includes('postgresql'))('a backup whose promotion lost to a heartbeat, on postgresql', () => {
  let srv: TestServer;
  afterAll(() => srv?.close());

  it('counts the backup’s win and completion after the sweep left both copies running', async () => {
    srv = await startTestServer('postgresql', { sweepIntervalMs: 600_000 });
    const alice = restClient(srv.url, await srv.keyFor('alice'));
    const a = (await alice('POST', '/api/v1/agents', { name: 'first' })).body.id as string;
    const b = (await alice('POST', '/api/v1/agents', { name: 'backup' })).body.id as string;
    const network = (await alice('POST', '/api/v1/agents/networks', { name: 'race', agents: [a], claim_timeout_seconds: 3600 })).body;
    const execution = (await alice('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { x: 1 } })).body;
    const first = (await alice('POST', `/api/v1/agents/${a}/claim`, { lease_seconds: 1 })).body.subtask;
    const { workSql } = await import('../src/work/sql/index.ts');
    const [backup] = await srv.server.db.transaction((tx) =>
      workSql.startBackups(tx.sql, { ownerId: 'alice', assigneeId: b, ids: [first.subtask_id], leaseSeconds: 60, now: new Date() }),
    );
    expect(backup?.backupLeaseId).toBeTruthy();

    const pg = (await import('pg')).default;
    const holder = new pg.Client({ connectionString: srv.database.target.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM "subtasks" WHERE "id" = $1 FOR UPDATE', [first.subtask_id]);
      // The sweep, as of a moment when the first lease has run out and the backup's has not.
      const sweep = srv.server.work.sweep(new Date(Date.now() + 5000));
      for (let i = 0; i < 200; i++) {
        const waiting = await holder.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
        );
        if (waiting.rowCount) break;
        await sleep(25);
      }
      // The first copy's heartbeat lands first.
      await holder.query(`UPDATE "subtasks" SET "lease_expires_at" = now() AT TIME ZONE 'UTC' + interval '1 hour' WHERE "id" = $1`, [
        first.subtask_id,
      ]);
      await holder.query('COMMIT');
      expect(await sweep).toMatchObject({ expired: 0, reassigned: 0 });
    } finally {
      await holder.end();
    }
    // The backup finishes first: its result is taken, its attempt completes, and the win is counted.
    const won = await alice('POST', `/api/v1/subtasks/${first.subtask_id}/result`, { lease_id: backup!.backupLeaseId, result: 'backup' });
    expect(won.status, JSON.stringify(won.body)).toBe(200);
    const attempts = await srv.server.db.run((db) =>
      db.subtaskAttempt.findMany({ where: { subtaskId: first.subtask_id }, orderBy: { startedAt: 'asc' } }),
    );
    expect(attempts.map((x) => [x.assigneeId, x.backup, x.outcome])).toEqual([
      [a, false, 'cancelled'],
      [b, true, 'completed'],
    ]);
    const row = await srv.server.db.run((db) => db.agentNetworkExecution.findUnique({ where: { id: execution.id } }));
    expect([row!.backupsLaunched, row!.backupsWon]).toEqual([0, 1]);
  });
});

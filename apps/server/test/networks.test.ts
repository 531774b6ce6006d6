import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { restClient } from './support/http.ts';
import { recountAggregates } from './support/recount.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { eventually, sleep } from './support/waiting.ts';

type Call = ReturnType<typeof restClient>;

/** An in-test worker: claim everything waiting for `agentId` and answer with `answer(payload)`. */
async function drain(call: Call, agentId: string, answer: (payload: any) => unknown): Promise<any[]> {
  const done: any[] = [];
  for (;;) {
    const claim = await call('POST', `/api/v1/agents/${agentId}/claim`, {});
    expect(claim.status).toBe(200);
    const s = claim.body.subtask;
    if (!s) return done;
    const posted = await call('POST', `/api/v1/subtasks/${s.subtask_id}/result`, { lease_id: s.lease_id, result: answer(s.payload) });
    expect(posted.status, JSON.stringify(posted.body)).toBe(200);
    done.push(s);
  }
}

const double = (p: { items: number[] }) => p.items.map((x) => x * 2);

describe.each(databaseKinds)('agent networks on %s', (kind) => {
  let srv: TestServer;
  let alice: Call;
  let bob: Call;
  let agents: { id: string; name: string }[];

  async function agent(name: string, capabilities: string[] = [], call = alice) {
    const r = await call('POST', '/api/v1/agents', { name, capabilities });
    expect(r.status).toBe(201);
    return r.body as { id: string; name: string };
  }

  // Failures are retried at once here (retry_base_seconds 0): these tests are about who takes the work next;
  // the backoff has tests of its own (retries.test.ts).
  async function network(body: Record<string, unknown>) {
    const r = await alice('POST', '/api/v1/agents/networks', {
      name: 'n',
      agents: agents.map((a) => a.id),
      retry_base_seconds: 0,
      ...body,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body as { id: string; agents: string[] };
  }

  async function execute(networkId: string, task: unknown, priority?: string) {
    const r = await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, { task, ...(priority ? { priority } : {}) });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body;
  }

  const execution = async (networkId: string, id: string) =>
    (await alice('GET', `/api/v1/agents/networks/${networkId}/executions/${id}`)).body;

  beforeAll(async () => {
    srv = await startTestServer(kind);
    alice = restClient(srv.url, await srv.keyFor('alice'));
    bob = restClient(srv.url, await srv.keyFor('bob'));
    agents = [await agent('a1', ['gpu']), await agent('a2', ['gpu', 'llm']), await agent('a3', ['cpu'])];
  });
  afterAll(() => srv?.close());

  describe('networks', () => {
    it('creates from the caller’s agents; an unknown or foreign agent is a 404 naming it and creates nothing', async () => {
      const before = (await alice('GET', '/api/v1/agents/networks')).body.total_count;
      const foreign = await agent('bobs', [], bob);
      for (const bad of ['no-such-agent', foreign.id]) {
        const r = await alice('POST', '/api/v1/agents/networks', { name: 'x', agents: [agents[0]!.id, bad] });
        expect(r.status).toBe(404);
        expect(r.body.message).toBe(`Agent ${bad} not found`);
      }
      expect((await alice('GET', '/api/v1/agents/networks')).body.total_count).toBe(before);

      const created = await network({ description: 'd' });
      expect(created).toMatchObject({
        coordination_strategy: 'round-robin',
        status: 'active',
        lease_seconds: 30,
        claim_timeout_seconds: 30,
        max_attempts: 3,
      });
      expect((await bob('GET', `/api/v1/agents/networks/${created.id}`)).status).toBe(404);
    });

    it('takes the legacy CLI’s create body and answers with an id', async () => {
      const r = await alice('POST', '/api/v1/agents/networks', {
        name: 'legacy',
        description: null,
        agents: [agents[0]!.id, agents[1]!.id],
        coordination_strategy: 'centralized',
      });
      expect(r.status).toBe(201);
      expect(r.body.id).toEqual(expect.any(String));
      const bad = await alice('POST', '/api/v1/agents/networks', { name: 'x', agents: [agents[0]!.id], coordination_strategy: 'anarchy' });
      expect(bad.status).toBe(400);
      expect(bad.body.message).toMatch(/coordination_strategy/);
    });

    it('pauses, resumes and archives; archived networks keep their history and take no work', async () => {
      const n = await network({});
      const done = await execute(n.id, { x: 1 });
      expect((await alice('PATCH', `/api/v1/agents/networks/${n.id}`, { status: 'paused' })).body.status).toBe('paused');
      const paused = await alice('POST', `/api/v1/agents/networks/${n.id}/execute`, { task: { x: 2 } });
      expect(paused.status).toBe(409);
      expect(paused.body.message).toMatch(/paused/);
      expect((await alice('PATCH', `/api/v1/agents/networks/${n.id}`, { status: 'active' })).body.status).toBe('active');

      expect((await alice('DELETE', `/api/v1/agents/networks/${n.id}`)).body.status).toBe('archived');
      expect((await alice('GET', `/api/v1/agents/networks/${n.id}`)).body.status).toBe('archived');
      expect((await alice('GET', `/api/v1/agents/networks/${n.id}/executions/${done.id}`)).status).toBe(200);
      expect((await alice('POST', `/api/v1/agents/networks/${n.id}/execute`, { task: {} })).status).toBe(409);
      expect((await alice('DELETE', `/api/v1/agents/networks/${n.id}`)).status).toBe(409);
      const listed = (await alice('GET', '/api/v1/agents/networks?limit=500')).body.networks.map((x: { id: string }) => x.id);
      expect(listed).not.toContain(n.id);
      expect((await alice('GET', '/api/v1/agents/networks?status=archived')).body.networks.map((x: { id: string }) => x.id)).toContain(
        n.id,
      );
      // Archiving stops new executions only: work already queued is still done.
      await drain(alice, agents[0]!.id, () => 'ok');
      await drain(alice, agents[1]!.id, () => 'ok');
      await drain(alice, agents[2]!.id, () => 'ok');
      expect((await execution(n.id, done.id)).status).toBe('completed');
    });

    it('refuses replication above max_replication', async () => {
      const r = await alice('POST', '/api/v1/agents/networks', { name: 'x', agents: [agents[0]!.id], replication: 5, max_replication: 3 });
      expect(r.status).toBe(400);
      expect(r.body.message).toMatch(/max_replication/);
    });
  });

  describe('executions', () => {
    it('answers 202 with id, execution_id, queued and the planned subtasks; items are balanced over the agents', async () => {
      // Stealing off: this is about who each subtask is planned for (stealing lets an idle agent take another's).
      const n = await network({ work_stealing: false });
      const e = await execute(n.id, { items: Array.from({ length: 10 }, (_, i) => i), reduce: 'sum' });
      expect(e).toMatchObject({ id: e.execution_id, network_id: n.id, status: 'queued', progress: { total: 3, completed: 0, failed: 0 } });
      // ceil(10 / 3) = 4 items per chunk, one chunk per agent in turn.
      expect(e.subtasks.map((s: any) => [s.seq, s.assignee_id, s.status])).toEqual([
        [0, agents[0]!.id, 'assigned'],
        [1, agents[1]!.id, 'assigned'],
        [2, agents[2]!.id, 'assigned'],
      ]);
      expect((await bob('GET', `/api/v1/agents/networks/${n.id}/executions/${e.id}`)).status).toBe(404);
      expect((await alice('POST', '/api/v1/agents/networks/nope/execute', { task: {} })).status).toBe(404);

      const payloads = [];
      for (const a of agents) payloads.push(...(await drain(alice, a.id, double)).map((s) => s.payload));
      expect(payloads).toEqual([
        { items: [0, 1, 2, 3], offset: 0 },
        { items: [4, 5, 6, 7], offset: 4 },
        { items: [8, 9], offset: 8 },
      ]);
      const done = await execution(n.id, e.id);
      expect(done.status).toBe('completed');
      expect(done.results).toEqual({
        subtask_results: [
          [0, 2, 4, 6],
          [8, 10, 12, 14],
          [16, 18],
        ],
        reduce: 'sum',
        reduced: 90,
        reduce_error: null,
      });
      expect(done.started_at).toEqual(expect.any(String));
      expect(done.completed_at).toEqual(expect.any(String));
    });

    it('round-robin continues from where the last execution stopped', async () => {
      const n = await network({});
      const first = await execute(n.id, { subtasks: [{ a: 1 }, { a: 2 }] });
      const second = await execute(n.id, { subtasks: [{ a: 3 }, { a: 4 }] });
      expect([...first.subtasks, ...second.subtasks].map((s: any) => s.assignee_id)).toEqual([
        agents[0]!.id,
        agents[1]!.id,
        agents[2]!.id,
        agents[0]!.id,
      ]);
      await alice('POST', `/api/v1/agents/networks/${n.id}/executions/${first.id}/cancel`);
      await alice('POST', `/api/v1/agents/networks/${n.id}/executions/${second.id}/cancel`);
    });

    it('a subtask nobody can do is a 422 and stores nothing', async () => {
      const n = await network({ coordination_strategy: 'capability-match' });
      const r = await alice('POST', `/api/v1/agents/networks/${n.id}/execute`, { task: { subtasks: [{ requires: ['quantum'] }] } });
      expect(r.status).toBe(422);
      expect(r.body.message).toMatch(/quantum/);
      const badTag = await alice('POST', `/api/v1/agents/networks/${n.id}/execute`, {
        task: { subtasks: [{}, { requires: ['ok', 'not ok'] }] },
      });
      expect(badTag.status).toBe(400);
      expect(badTag.body.message).toMatch(/task\.subtasks\.1\.requires\.1: /);
      expect((await alice('GET', `/api/v1/agents/networks/${n.id}/executions`)).body.total_count).toBe(0);
    });

    it('capability-match gives each subtask to the most specific capable agent', async () => {
      const n = await network({ coordination_strategy: 'capability-match' });
      const e = await execute(n.id, {
        subtasks: [{ requires: ['llm'] }, { requires: ['gpu'] }, { requires: ['cpu'] }, { requires: ['gpu'] }],
      });
      // a1 (gpu) is a closer fit for gpu work than a2 (gpu, llm); a2 is the only llm agent.
      expect(e.subtasks.map((s: any) => s.assignee_id)).toEqual([agents[1]!.id, agents[0]!.id, agents[2]!.id, agents[0]!.id]);
      await alice('POST', `/api/v1/agents/networks/${n.id}/executions/${e.id}/cancel`);
    });

    it('orders each agent’s claim queue by priority, then first in first out', async () => {
      const solo = await agent(`solo-${kind}`);
      const r = await alice('POST', '/api/v1/agents/networks', { name: 'q', agents: [solo.id] });
      const n = r.body;
      await execute(n.id, { tag: 'low' }, 'low');
      await execute(n.id, { tag: 'normal-1' });
      await execute(n.id, { tag: 'high' }, 'high');
      await execute(n.id, { tag: 'normal-2' }, 'normal');
      const order = (await drain(alice, solo.id, () => null)).map((s) => s.payload.tag);
      expect(order).toEqual(['high', 'normal-1', 'normal-2', 'low']);
    });

    it('exactly one of 20 concurrent claims wins a subtask', async () => {
      const racer = await agent(`racer-${kind}`);
      const n = (await alice('POST', '/api/v1/agents/networks', { name: 'race', agents: [racer.id] })).body;
      const e = await execute(n.id, { only: 'one' });
      const claims = await Promise.all(Array.from({ length: 20 }, () => alice('POST', `/api/v1/agents/${racer.id}/claim`, {})));
      expect(claims.map((c) => c.status)).toEqual(Array(20).fill(200));
      const winners = claims.filter((c) => c.body.subtask);
      expect(winners).toHaveLength(1);
      expect(winners[0]!.body.subtask).toMatchObject({ subtask_id: e.subtasks[0].id, attempt: 1, payload: { only: 'one' } });
      const after = await execution(n.id, e.id);
      expect(after.status).toBe('running');
      expect(after.subtasks[0]).toMatchObject({ status: 'leased', attempts: 1 });
    });

    it('a claim marks its execution running, in the claim’s own statement on PostgreSQL; while another transaction holds the execution’s row, after it', async () => {
      const solo = await agent(`starter-${kind}`);
      const n = (await alice('POST', '/api/v1/agents/networks', { name: 'start', agents: [solo.id] })).body;
      const first = await execute(n.id, { subtasks: [1, 2] });
      expect(first.status).toBe('queued');
      expect((await alice('POST', `/api/v1/agents/${solo.id}/claim`, {})).body.subtask.execution_id).toBe(first.id);
      expect((await execution(n.id, first.id)).status).toBe('running');
      if (kind !== 'postgresql') return;
      const second = await execute(n.id, { only: 'one' }, 'high');
      const pg = (await import('pg')).default;
      const holder = new pg.Client({ connectionString: srv.database.target.url });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        // As the server's own transactions hold it (lockLiveParent's UPDATE): a claim's FK checks still pass.
        await holder.query('SELECT 1 FROM "agent_network_executions" WHERE "id" = $1 FOR NO KEY UPDATE', [second.id]);
        const claim = alice('POST', `/api/v1/agents/${solo.id}/claim`, {});
        // The claim's statement skipped the held row and took the subtask; its mark after waits for the row.
        await eventually(
          async () =>
            (await holder.query(`SELECT 1 FROM "subtasks" WHERE "execution_id" = $1 AND "status" = 'leased'`, [second.id])).rowCount === 1,
        );
        expect((await execution(n.id, second.id)).status).toBe('queued');
        await holder.query('COMMIT');
        expect((await claim).body.subtask.execution_id).toBe(second.id);
      } finally {
        await holder.end();
      }
      expect((await execution(n.id, second.id)).status).toBe('running');
    });

    it('cancels: open subtasks are withdrawn and a late result is refused', async () => {
      const n = await network({});
      const e = await execute(n.id, { subtasks: [1, 2, 3] });
      const claim = (await alice('POST', `/api/v1/agents/${agents[0]!.id}/claim`, {})).body.subtask;
      const cancelled = await alice('POST', `/api/v1/agents/networks/${n.id}/executions/${e.id}/cancel`);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.status).toBe('cancelled');
      expect(cancelled.body.subtasks.map((s: any) => s.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
      const late = await alice('POST', `/api/v1/subtasks/${claim.subtask_id}/result`, { lease_id: claim.lease_id, result: 1 });
      expect(late.status).toBe(409);
      expect(late.body.message).toMatch(/cancelled/);
      expect((await alice('POST', `/api/v1/agents/networks/${n.id}/executions/${e.id}/cancel`)).status).toBe(409);
    });
  });

  describe('worker protocol', () => {
    it('a result posted twice under one lease counts once; another lease or owner is refused', async () => {
      const n = await network({});
      const e = await execute(n.id, { subtasks: [{ n: 1 }] });
      const s = (await alice('POST', `/api/v1/agents/${agents[0]!.id}/claim`, {})).body.subtask;
      expect((await bob('POST', `/api/v1/subtasks/${s.subtask_id}/result`, { lease_id: s.lease_id, result: 1 })).status).toBe(404);
      expect((await alice('POST', `/api/v1/subtasks/${s.subtask_id}/result`, { lease_id: 'other', result: 1 })).status).toBe(409);
      const hb = await alice('POST', `/api/v1/subtasks/${s.subtask_id}/heartbeat`, { lease_id: s.lease_id });
      expect(hb.status).toBe(200);
      expect(Date.parse(hb.body.lease_expires_at)).toBeGreaterThanOrEqual(Date.parse(s.lease_expires_at));
      for (let i = 0; i < 2; i++) {
        const r = await alice('POST', `/api/v1/subtasks/${s.subtask_id}/result`, { lease_id: s.lease_id, result: { v: 1 } });
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ status: 'completed', execution_status: 'completed' });
      }
      expect((await alice('POST', `/api/v1/subtasks/${s.subtask_id}/result`, { lease_id: s.lease_id, result: { v: 2 } })).status).toBe(409);
      expect((await execution(n.id, e.id)).results.subtask_results).toEqual([{ v: 1 }]);
    });

    it('an expired lease goes to another agent; the late result is refused and nothing is done twice', async () => {
      const n = await network({ lease_seconds: 1 });
      const e = await execute(n.id, { subtasks: [{ job: 'slow' }] });
      const first = (await alice('POST', `/api/v1/agents/${agents[0]!.id}/claim`, {})).body.subtask;
      expect(first).toBeTruthy();
      const moved = await eventually(async () => {
        const x = await execution(n.id, e.id);
        return x.subtasks[0].status === 'assigned' && x.subtasks[0];
      });
      expect(moved.assignee_id).not.toBe(agents[0]!.id);
      expect(
        (await alice('POST', `/api/v1/subtasks/${first.subtask_id}/result`, { lease_id: first.lease_id, result: 'late' })).status,
      ).toBe(409);
      const redone = await drain(alice, moved.assignee_id, () => 'fresh');
      expect(redone.map((s) => s.attempt)).toEqual([2]);
      const done = await execution(n.id, e.id);
      expect(done).toMatchObject({ status: 'completed', results: { subtask_results: ['fresh'] } });

      const status = (await alice('GET', `/api/v1/agents/networks/${n.id}/status`)).body;
      const a1 = status.performance_metrics.agents.find((x: any) => x.agent_id === agents[0]!.id);
      expect(a1).toMatchObject({ expired: 1, completed: 0, failure_rate: 1 });
    });

    it('failures retry on another agent until max_attempts, then the execution fails and its other work is withdrawn', async () => {
      const n = await network({ max_attempts: 2 });
      const e = await execute(n.id, { subtasks: [{ k: 'doomed' }, { k: 'fine' }, { k: 'other' }] });
      const fail = async (agentId: string) => {
        const s = (await alice('POST', `/api/v1/agents/${agentId}/claim`, {})).body.subtask;
        expect(s.payload).toEqual({ k: 'doomed' });
        const r = await alice('POST', `/api/v1/subtasks/${s.subtask_id}/fail`, { lease_id: s.lease_id, error: 'exit 3: boom' });
        expect(r.status).toBe(200);
        return r.body;
      };
      const firstFailure = await fail(agents[0]!.id);
      expect(firstFailure.status).toBe('assigned');
      const retried = (await execution(n.id, e.id)).subtasks[0];
      expect(retried.assignee_id).not.toBe(agents[0]!.id);
      expect(await fail(retried.assignee_id)).toMatchObject({ status: 'failed', execution_status: 'failed' });
      const failed = await execution(n.id, e.id);
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatch(/subtask 0 failed/);
      expect(failed.subtasks[0].error).toMatch(/boom \(attempt 2 of 2\)/);
      expect(failed.subtasks.slice(1).map((s: any) => s.status)).toEqual(['cancelled', 'cancelled']);
    });

    it('work its agent does not claim within claim_timeout moves to a live agent', async () => {
      const absent = await agent(`absent-${kind}`);
      const present = await agent(`present-${kind}`);
      const n = (
        await alice('POST', '/api/v1/agents/networks', {
          name: 'ct',
          agents: [absent.id, present.id],
          claim_timeout_seconds: 1,
          // The claim timeout alone moves the work here (with stealing on, absent would take it as soon as it claims).
          work_stealing: false,
        })
      ).body;
      await alice('POST', `/api/v1/agents/${present.id}/claim`, {}); // present is now live
      const e = await execute(n.id, { subtasks: ['a', 'b'] });
      // Live agents are preferred, so both went to the present agent up front.
      expect(e.subtasks.map((s: any) => s.assignee_id)).toEqual([present.id, present.id]);

      // Once present goes offline and absent is live, present's queue moves over.
      await alice('POST', `/api/v1/agents/${absent.id}/claim`, {});
      await alice('PATCH', `/api/v1/agents/${present.id}`, { status: 'offline' });
      await eventually(async () => (await execution(n.id, e.id)).subtasks.every((s: any) => s.assignee_id === absent.id));
      expect((await drain(alice, absent.id, (p) => p)).length).toBe(2);
      expect((await execution(n.id, e.id)).results.subtask_results).toEqual(['a', 'b']);
    });
  });

  describe('replicated strategies', () => {
    it('hybrid accepts when two replicas agree and adds a third agent when they disagree', async () => {
      const n = await network({ coordination_strategy: 'hybrid', replication: 2 });
      const e = await execute(n.id, { subtasks: [{ q: 'agree' }, { q: 'dispute' }] });
      expect(e.subtasks.map((s: any) => [s.seq, s.replica])).toEqual([
        [0, 0],
        [0, 1],
        [1, 0],
        [1, 1],
      ]);
      const answers: Record<string, (p: any) => unknown> = {
        [agents[0]!.id]: (p) => (p.q === 'agree' ? 42 : 'A'),
        [agents[1]!.id]: (p) => (p.q === 'agree' ? 42 : 'B'),
        [agents[2]!.id]: (p) => (p.q === 'agree' ? 42 : 'B'),
      };
      for (let round = 0; round < 3; round++) for (const a of agents) await drain(alice, a.id, answers[a.id]!);
      const done = await execution(n.id, e.id);
      expect(done.status).toBe('completed');
      expect(done.results.subtask_results).toEqual([42, 'B']);
      const disputed = done.subtasks.filter((s: any) => s.seq === 1);
      expect(disputed).toHaveLength(3);
      expect(disputed.filter((s: any) => s.accepted)).toHaveLength(1);

      const metrics = (await alice('GET', `/api/v1/agents/networks/${n.id}/status?metrics=disagreement_rate`)).body.performance_metrics;
      expect(metrics).toEqual({ disagreement_rate: 0.5 });
    });

    it('centralized gives new work to the agent its measured task times say finishes first', async () => {
      const slow = await agent('slowpoke');
      const fast = await agent('quick');
      const r = await alice('POST', '/api/v1/agents/networks', {
        name: 'dispatch',
        agents: [slow.id, fast.id],
        coordination_strategy: 'centralized',
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const n = r.body;
      // No history: 1 s each, so the first subtask goes to the first agent, the second to the other.
      const warmup = await execute(n.id, { subtasks: [1, 2] });
      expect(warmup.subtasks.map((s: { assignee_id: string }) => s.assignee_id)).toEqual([slow.id, fast.id]);
      const claim = (await alice('POST', `/api/v1/agents/${slow.id}/claim`, {})).body.subtask;
      await sleep(400);
      expect((await alice('POST', `/api/v1/subtasks/${claim.subtask_id}/result`, { lease_id: claim.lease_id, result: 1 })).status).toBe(
        200,
      );
      expect(await drain(alice, fast.id, () => 2)).toHaveLength(1);
      // Measured: ~0.4 s against a few ms. Even with two queued already, the fast agent finishes a third first.
      const next = await execute(n.id, { subtasks: [3, 4, 5] });
      expect(next.subtasks.map((s: { assignee_id: string }) => s.assignee_id)).toEqual([fast.id, fast.id, fast.id]);
    });

    it('decentralized runs every subtask on every agent and takes the majority', async () => {
      const n = await network({ coordination_strategy: 'decentralized' });
      const e = await execute(n.id, { items: [1, 2], chunk_size: 1, reduce: 'concat' });
      expect(e.subtasks).toHaveLength(6);
      const seen: number[] = [];
      for (const a of agents) {
        const done = await drain(alice, a.id, (p) => (a === agents[2] ? [-1] : p.items.map((x: number) => x * 10)));
        seen.push(...done.map((s) => s.payload.items[0]));
      }
      expect(seen.sort()).toEqual([1, 1, 1, 2, 2, 2]);
      expect((await execution(n.id, e.id)).results).toMatchObject({ subtask_results: [[10], [20]], reduced: [10, 20] });
    });
  });

  describe('the legacy CLI’s rows', () => {
    it('create, execute, status and POST optimize take its bodies and answer what it reads', async () => {
      const created = await alice('POST', '/api/v1/agents/networks', {
        name: 'legacy-net',
        description: 'from the python cli',
        agents: agents.map((a) => a.id),
        coordination_strategy: 'hybrid',
      });
      expect([200, 201]).toContain(created.status);
      const id = created.body.id;
      expect(id).toEqual(expect.any(String));

      const executed = await alice('POST', `/api/v1/agents/networks/${id}/execute`, {
        task: { prompt: 'summarise', items: [1, 2, 3] },
        priority: 'high',
      });
      expect([200, 202]).toContain(executed.status);
      expect(executed.body.id).toEqual(expect.any(String));
      expect(executed.body.execution_id).toBe(executed.body.id);

      const status = await alice('GET', `/api/v1/agents/networks/${id}/status?metrics=throughput,success_rate`);
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({
        network_id: id,
        name: 'legacy-net',
        status: 'active',
        agent_count: 3,
        active_tasks: 1,
        total_executions: 1,
      });
      expect(Object.keys(status.body.performance_metrics).sort()).toEqual(['success_rate', 'throughput']);

      for (const objective of ['speed', 'efficiency', 'cost', 'quality']) {
        const optimized = await alice('POST', `/api/v1/agents/networks/${id}/optimize`, { objective });
        expect(optimized.status).toBe(200);
        expect(optimized.body).toMatchObject({ network_id: id, optimization_type: objective, recommendations: expect.any(Array) });
        expect(optimized.body.performance_metrics.queue_depth).toBe(6);
      }
      const unknown = await alice('POST', `/api/v1/agents/networks/${id}/optimize`, { objective: 'vibes' });
      expect(unknown.status).toBe(400);
      await alice('POST', `/api/v1/agents/networks/${id}/executions/${executed.body.id}/cancel`);
    });
  });

  describe('status and optimize', () => {
    it('reports zeros and nulls without history, and a metrics subset on request', async () => {
      const n = await network({});
      const status = await alice('GET', `/api/v1/agents/networks/${n.id}/status`);
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({ network_id: n.id, agent_count: 3, active_tasks: 0, total_executions: 0 });
      expect(status.body.performance_metrics).toMatchObject({
        avg_execution_time: null,
        p95_execution_time: null,
        success_rate: null,
        throughput: 0,
        queue_depth: 0,
        in_flight: 0,
        disagreement_rate: null,
        sample: { executions: 0, attempts: 0 },
      });
      const subset = await alice('GET', `/api/v1/agents/networks/${n.id}/status?metrics=success_rate,queue_depth`);
      expect(subset.body.performance_metrics).toEqual({ success_rate: null, queue_depth: 0 });
      const unknown = await alice('GET', `/api/v1/agents/networks/${n.id}/status?metrics=vibes`);
      expect(unknown.status).toBe(400);
      expect(unknown.body.message).toMatch(/Unknown metric vibes; choose from .*success_rate/);
      const advice = await alice('GET', `/api/v1/agents/networks/${n.id}/optimize`);
      expect(advice.body).toMatchObject({ network_id: n.id, optimization_type: 'efficiency', recommendations: [] });
    });

    it('computes metrics from the recorded work, and optimize cites the agent that fails', async () => {
      // Stealing off: a1 fails only its own 5 chunks (with stealing on it would take, and fail, a2's and a3's too).
      const n = await network({ max_attempts: 10, work_stealing: false });
      const e = await execute(n.id, { items: Array.from({ length: 15 }, (_, i) => i), chunk_size: 1, reduce: 'count' });
      // a1 fails every attempt it gets (its 5 of the 15 chunks); a2 and a3 do the work.
      for (let round = 0; round < 10; round++) {
        const s = (await alice('POST', `/api/v1/agents/${agents[0]!.id}/claim`, {})).body.subtask;
        if (s) await alice('POST', `/api/v1/subtasks/${s.subtask_id}/fail`, { lease_id: s.lease_id, error: 'bad gpu' });
        await drain(alice, agents[1]!.id, double);
        await drain(alice, agents[2]!.id, double);
      }
      const done = await execution(n.id, e.id);
      expect(done.status).toBe('completed');
      expect(done.results.reduced).toBe(15);

      const status = (await alice('GET', `/api/v1/agents/networks/${n.id}/status`)).body;
      const m = status.performance_metrics;
      expect(status).toMatchObject({ total_executions: 1, active_tasks: 0 });
      expect(m.success_rate).toBe(1);
      expect(m.queue_depth).toBe(0);
      expect(m.sample.executions).toBe(1);
      const byAgent = Object.fromEntries(m.agents.map((a: any) => [a.agent_id, a]));
      const a1 = byAgent[agents[0]!.id];
      expect(a1.completed).toBe(0);
      expect(a1.failed).toBe(5);
      expect(a1.failure_rate).toBe(1);
      expect(byAgent[agents[1]!.id].completed + byAgent[agents[2]!.id].completed).toBe(15);
      expect(m.sample.attempts).toBe(20);
      expect(m.throughput).toBeCloseTo(15 / 60, 6);
      expect(m.avg_execution_time).toBeGreaterThan(0);

      for (const call of [
        () => alice('GET', `/api/v1/agents/networks/${n.id}/optimize?objective=quality`),
        () => alice('POST', `/api/v1/agents/networks/${n.id}/optimize`, { objective: 'quality' }),
      ]) {
        const r = await call();
        expect(r.status).toBe(200);
        expect(r.body.optimization_type).toBe('quality');
        expect(r.body.performance_metrics.agents).toHaveLength(3);
        const replace = r.body.recommendations.find((x: any) => x.type === 'replace_agent');
        expect(replace).toMatchObject({
          evidence: { agent_id: agents[0]!.id, failure_rate: 1 },
          action: { agents: [agents[1]!.id, agents[2]!.id] },
        });
        expect(r.body.recommendations[0].type).toBe('replace_agent');
      }
    });
  });
  it('keeps its rolling aggregates equal to a recount of the rows, after all of the above', async () => {
    // Let the sweeper and the heartbeat buffer settle what is in flight.
    await sleep(400);
    expect(await recountAggregates(srv.server.db)).toEqual([]);
  });
});

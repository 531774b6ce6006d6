// The batched worker protocol, long-poll claims and lease fencing, on each
// database. The sweeper runs only when a test runs it (sweepIntervalMs is an
// hour), so what happens between expiry and the sweep can be observed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql, statementCounter } from '../src/db/sql.ts';
import { workSql } from '../src/work/sql/index.ts';
import { databaseKinds } from './support/databases.ts';
import { restClient } from './support/http.ts';
import { recountAggregates } from './support/recount.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { sleep } from './support/waiting.ts';
import { checkInvariants } from './support/db-state.ts';

type Call = ReturnType<typeof restClient>;

describe.each(databaseKinds)('the work protocol on %s', (kind) => {
  let srv: TestServer;
  let call: Call;
  let other: Call;
  let agent: string;

  async function network(agents: string[], settings: Record<string, unknown> = {}) {
    const r = await call('POST', '/api/v1/agents/networks', { name: 'w', agents, claim_timeout_seconds: 3600, ...settings });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id as string;
  }
  async function execute(networkId: string, task: unknown, priority?: string) {
    const r = await call('POST', `/api/v1/agents/networks/${networkId}/execute`, { task, ...(priority ? { priority } : {}) });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body as { id: string; subtasks: { id: string }[] };
  }
  const claims = async (agentId: string, body: Record<string, unknown> = {}) => {
    const r = await call('POST', `/api/v1/agents/${agentId}/claims`, body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.subtasks as { subtask_id: string; lease_id: string; seq: number; payload: any; lease_expires_at: string }[];
  };
  const newAgent = async (name: string) => (await call('POST', '/api/v1/agents', { name })).body.id as string;

  beforeAll(async () => {
    srv = await startTestServer(kind, { sweepIntervalMs: 3_600_000 });
    call = restClient(srv.url, await srv.keyFor('worker-owner'));
    other = restClient(srv.url, await srv.keyFor('someone-else'));
    agent = await newAgent('w1');
  });
  afterAll(() => srv?.close());

  it('claims up to max at once, highest priority and oldest first; racing batch claims never take one subtask twice', async () => {
    const n = await network([agent]);
    const low = await execute(n, { subtasks: [1, 2, 3] }, 'low');
    const high = await execute(n, { subtasks: [4, 5] }, 'high');
    const first = await claims(agent, { max: 4 });
    expect(first.map((s) => s.payload)).toEqual([4, 5, 1, 2]);
    expect(first.every((s) => s.lease_id && s.lease_expires_at)).toBe(true);
    const rest = await claims(agent, { max: 100 });
    expect(rest.map((s) => s.payload)).toEqual([3]);
    expect(await claims(agent, { max: 5 })).toEqual([]);
    expect([...first, ...rest].map((s) => s.subtask_id).sort()).toEqual([...low.subtasks, ...high.subtasks].map((s) => s.id).sort());

    const racer = await newAgent('racer');
    const n2 = await network([racer]);
    await execute(n2, { items: Array.from({ length: 60 }, (_, i) => i), chunk_size: 1 });
    const got = (await Promise.all(Array.from({ length: 8 }, () => claims(racer, { max: 10 })))).flat();
    expect(got.length).toBe(60);
    expect(new Set(got.map((s) => s.subtask_id)).size).toBe(60);
    expect((await call('POST', `/api/v1/agents/${racer}/claims`, { max: 101 })).status).toBe(400);
  });

  it('records a batch of results and failures in one request, answering each on its own; a bad item refuses only itself', async () => {
    const a = await newAgent('batch');
    const n = await network([a], { max_attempts: 1 });
    const e = await execute(n, { subtasks: [1, 2, 3, 4, 5, 6] });
    const [s1, s2, s3, s4, s5, s6] = await claims(a, { max: 6 });
    // s4 is recorded first, so posting it again (same result) is "already recorded" and another result a conflict.
    expect((await call('POST', `/api/v1/subtasks/${s4!.subtask_id}/result`, { lease_id: s4!.lease_id, result: 40 })).status).toBe(200);
    // Nested past the 32-level limit: refused on its own, not with the whole batch.
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    const r = await call('POST', '/api/v1/subtasks/results', {
      results: [
        { subtask_id: s1!.subtask_id, lease_id: s1!.lease_id, result: 10 },
        { subtask_id: s2!.subtask_id, lease_id: 'not-my-lease', result: 20 },
        { subtask_id: s3!.subtask_id, lease_id: s3!.lease_id, error: 'gpu fell over' },
        { subtask_id: s4!.subtask_id, lease_id: s4!.lease_id, result: 40 },
        { subtask_id: s4!.subtask_id, lease_id: s4!.lease_id, result: 41 },
        { subtask_id: 'no-such-subtask', lease_id: s5!.lease_id, result: 50 },
        { subtask_id: s6!.subtask_id, lease_id: s6!.lease_id, result: deep },
        { subtask_id: s5!.subtask_id, lease_id: s5!.lease_id, result: { ok: true } },
      ],
    });
    expect(r.status, JSON.stringify(r.body).slice(0, 500)).toBe(200);
    expect(r.body.results.map((x: any) => [x.status, x.refusal])).toEqual([
      ['recorded', null],
      // Never its lease; and by the time it is answered, s3's failure has failed the execution and withdrawn s2.
      ['refused', 'CANCELLED'],
      ['recorded', null],
      ['already_recorded', null],
      ['refused', 'CONFLICT'],
      ['refused', 'NOT_FOUND'],
      ['refused', 'INVALID'],
      ['recorded', null],
    ]);
    // recorded: every item that stands, the repeat of one already recorded included.
    expect(r.body).toMatchObject({ recorded: 4, refused: 4 });
    const view = (await call('GET', `/api/v1/agents/networks/${n}/executions/${e.id}`)).body;
    // The failure at max_attempts 1 failed the execution, which withdrew what was still open (s2, s6).
    expect(view.status).toBe('failed');
    expect(view.subtasks.map((s: any) => s.status)).toEqual(['completed', 'cancelled', 'failed', 'completed', 'completed', 'cancelled']);
    expect(await recountAggregates(srv.server.db)).toEqual([]);
    expect(await checkInvariants(srv.server.db)).toEqual([]);
  });

  it('completes an execution from batched results, and its counters match the records', async () => {
    const a = await newAgent('finisher');
    const n = await network([a]);
    const e = await execute(n, { items: Array.from({ length: 250 }, (_, i) => i), chunk_size: 1, reduce: 'sum' });
    for (;;) {
      const got = await claims(a, { max: 100 });
      if (got.length === 0) break;
      const r = await call('POST', '/api/v1/subtasks/results', {
        results: got.map((s) => ({ subtask_id: s.subtask_id, lease_id: s.lease_id, result: s.payload.items[0] * 2 })),
      });
      expect(r.body.recorded).toBe(got.length);
    }
    const view = (await call('GET', `/api/v1/agents/networks/${n}/executions/${e.id}`)).body;
    expect(view.status).toBe('completed');
    expect(view.progress).toEqual({ total: 250, completed: 250, failed: 0 });
    expect(view.results.reduced).toBe(249 * 250);
    const status = (await call('GET', `/api/v1/agents/networks/${n}/status`)).body;
    expect(status.performance_metrics.agents[0]).toMatchObject({ completed: 250, failed: 0 });
    expect(Date.now() - Date.parse(status.last_activity)).toBeLessThan(60_000);
    expect(await recountAggregates(srv.server.db)).toEqual([]);
  });

  it('completes every execution one results request decides, each with its own results, in a few statements', async () => {
    const a = await newAgent('stream');
    const n = await network([a]);
    const executions = [];
    for (let i = 0; i < 60; i++) executions.push(await execute(n, { items: [i, 1], chunk_size: 2, reduce: 'sum' }));
    const got = await claims(a, { max: 100 });
    expect(got).toHaveLength(60);
    const before = statementCounter.total;
    const r = await call('POST', '/api/v1/subtasks/results', {
      results: got.map((s) => ({ subtask_id: s.subtask_id, lease_id: s.lease_id, result: s.payload.items[0] + s.payload.items[1] })),
    });
    expect(r.body.recorded).toBe(60);
    // One decide statement (PostgreSQL) or transaction (SQLite) for the 60 results, one read of the executions'
    // progress and one transaction completing all 60: before, each execution was counted and completed on its own
    // (361 statements on PostgreSQL, 542 on SQLite; now 6 and 10).
    expect(statementCounter.total - before).toBeLessThan(20);
    for (const [i, e] of executions.entries()) {
      const view = (await call('GET', `/api/v1/agents/networks/${n}/executions/${e.id}`)).body;
      expect(view.status).toBe('completed');
      expect(view.results.reduced).toBe(i + 1);
    }
    expect(await recountAggregates(srv.server.db)).toEqual([]);
  });

  it('an execute writes its execution, counters and every subtask in one statement on PostgreSQL, whatever its size', async () => {
    const a = await newAgent('wide');
    const n = await network([a]);
    const subtasks = [null, ...Array.from({ length: 999 }, (_, i) => ({ i, text: `it's "${i}"` }))];
    const before = statementCounter.total;
    const e = await execute(n, { subtasks });
    // One read (the network and its candidates) and one write (no BEGIN, no COMMIT: Database.autocommit); SQLite writes its
    // subtasks 500 to a statement, in its gate's transaction.
    if (kind === 'postgresql') expect(statementCounter.total - before).toBe(2);
    expect(e.subtasks).toHaveLength(1000);
    const got: { payload: unknown }[] = [];
    for (let batch = await claims(a, { max: 100 }); batch.length > 0; batch = await claims(a, { max: 100 })) got.push(...batch);
    expect(got.map((s) => s.payload)).toEqual(subtasks);
    expect(await recountAggregates(srv.server.db)).toEqual([]);
  });

  it('extends every held lease in one heartbeat, and refuses the ones not held', async () => {
    const a = await newAgent('beater');
    const n = await network([a], { lease_seconds: 5 });
    await execute(n, { subtasks: [1, 2, 3] });
    const held = await claims(a, { max: 3 });
    await call('POST', `/api/v1/subtasks/${held[2]!.subtask_id}/result`, { lease_id: held[2]!.lease_id, result: 3 });
    const r = await call('POST', '/api/v1/subtasks/heartbeats', {
      leases: [
        ...held.map((s) => ({ subtask_id: s.subtask_id, lease_id: s.lease_id })),
        { subtask_id: held[0]!.subtask_id, lease_id: 'stale' },
      ],
      lease_seconds: 120,
    });
    expect(r.status).toBe(200);
    expect(r.body.leases.map((l: any) => [l.held, l.refusal])).toEqual([
      [true, null],
      [true, null],
      [false, 'LEASE_LOST'],
      [false, 'LEASE_LOST'],
    ]);
    expect(Date.parse(r.body.leases[0].lease_expires_at) - Date.now()).toBeGreaterThan(100_000);
    // Another owner's key sees none of them.
    const foreign = await other('POST', '/api/v1/subtasks/heartbeats', {
      leases: [{ subtask_id: held[0]!.subtask_id, lease_id: held[0]!.lease_id }],
    });
    expect(foreign.body.leases[0]).toMatchObject({ held: false, refusal: 'NOT_FOUND' });
  });

  it('long-polls: an idle claim is answered as soon as work is assigned, and an empty one at the end of its wait', async () => {
    const a = await newAgent('poller');
    const n = await network([a]);
    const t0 = performance.now();
    const waiting = call('POST', `/api/v1/agents/${a}/claims`, { max: 10, wait_seconds: 20 });
    await sleep(300);
    const submitted = performance.now();
    await execute(n, { subtasks: ['now'] });
    const answer = await waiting;
    const woke = performance.now();
    expect(answer.body.subtasks.map((s: any) => s.payload)).toEqual(['now']);
    expect(woke - t0).toBeGreaterThanOrEqual(300);
    expect(woke - submitted).toBeLessThan(2000);

    const started = performance.now();
    const empty = await call('POST', `/api/v1/agents/${a}/claim`, { wait_seconds: 0.5 });
    expect(empty.body).toEqual({ subtask: null });
    expect(performance.now() - started).toBeGreaterThanOrEqual(450);
  });

  it('fences an expired lease: refused as LEASE_EXPIRED before the sweep and after it, and the sweep spares a lease extended in time', async () => {
    const a = await newAgent('fenced');
    const n = await network([a], { lease_seconds: 1, max_attempts: 5 });
    await execute(n, { subtasks: ['late', 'kept'] });
    const [late] = await claims(a, { max: 1 });
    const [kept] = await claims(a, { max: 1, lease_seconds: 30 });
    await sleep(1100);
    // Expired, not yet swept: the row still names this lease, and it is refused all the same.
    const before = await call('POST', `/api/v1/subtasks/${late!.subtask_id}/result`, { lease_id: late!.lease_id, result: 'too late' });
    expect(before.status).toBe(409);
    expect(before.body.message).toMatch(/has expired/);
    const beat = await call('POST', `/api/v1/subtasks/${late!.subtask_id}/heartbeat`, { lease_id: late!.lease_id });
    expect(beat.status).toBe(409);
    expect(beat.body.message).toMatch(/has expired/);

    await srv.server.work.sweep();
    const after = await call('POST', '/api/v1/subtasks/results', {
      results: [{ subtask_id: late!.subtask_id, lease_id: late!.lease_id, result: 'too late' }],
    });
    expect(after.body.results[0]).toMatchObject({ status: 'refused', refusal: 'LEASE_EXPIRED' });
    const single = await call('POST', `/api/v1/subtasks/${late!.subtask_id}/result`, { lease_id: late!.lease_id, result: 'too late' });
    expect(single.status).toBe(409);
    expect(single.body.message).toBe(before.body.message);

    // The sweep saw `kept` expired, but its holder extended it before the sweep released it: the release does nothing.
    const sawExpired = new Date(Date.now() + 5000);
    await call('POST', `/api/v1/subtasks/${kept!.subtask_id}/heartbeat`, { lease_id: kept!.lease_id, lease_seconds: 60 });
    const released = await srv.server.db.transaction((tx) =>
      workSql.moveSubtask(
        tx.sql,
        kept!.subtask_id,
        { status: 'leased', leaseId: kept!.lease_id, expiredBy: sawExpired },
        { status: 'failed', error: 'x' },
        new Date(),
      ),
    );
    expect(released).toBe(false);
    const ok = await call('POST', `/api/v1/subtasks/${kept!.subtask_id}/result`, { lease_id: kept!.lease_id, result: 'kept' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const attempt = await srv.server.db.run((_, q) =>
      q.one<{ outcome: string }>(sql`SELECT "outcome" FROM "subtask_attempts" WHERE "id" = ${late!.lease_id}`),
    );
    expect(attempt?.outcome).toBe('expired');
    expect(await checkInvariants(srv.server.db)).toEqual([]);
  });
});

describe.each(databaseKinds)('shutdown on %s', (kind) => {
  it('answers every held claim at once', async () => {
    const srv = await startTestServer(kind);
    const call = restClient(srv.url, await srv.keyFor('closer'));
    const agent = (await call('POST', '/api/v1/agents', { name: 'idle' })).body.id;
    const held = Array.from({ length: 5 }, () => call('POST', `/api/v1/agents/${agent}/claims`, { max: 1, wait_seconds: 30 }));
    await sleep(300);
    const t = performance.now();
    const closing = srv.close();
    const answers = await Promise.all(held);
    expect(performance.now() - t).toBeLessThan(1500);
    expect(answers.map((a) => [a.status, a.body.subtasks])).toEqual(Array(5).fill([200, []]));
    await closing;
  });
});

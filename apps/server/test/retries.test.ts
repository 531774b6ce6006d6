// Retries with backoff, failures that cannot be retried, the attempt time limit, each attempt's error in the
// subtask's history, and dead letters with redrive. Runs on SQLite and PostgreSQL; the sweep is run by hand with a
// later clock instead of waiting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { restClient } from './support/http.ts';
import { startTestServer, type TestServer } from './support/server.ts';

type Call = ReturnType<typeof restClient>;
const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000);

describe.each(databaseKinds)('retries and dead letters on %s', (kind) => {
  let srv: TestServer;
  let alice: Call;
  let made = 0;

  async function ok<T = any>(reply: Promise<{ status: number; body: T }>): Promise<T> {
    const r = await reply;
    expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
    return r.body;
  }
  const agent = async () => (await ok(alice('POST', '/api/v1/agents', { name: `r-${++made}` }))).id as string;
  const network = async (agents: string[], settings: Record<string, unknown>) =>
    ok(alice('POST', '/api/v1/agents/networks', { name: `r-${++made}`, agents, work_stealing: false, speculation: false, ...settings }));
  const claim = async (agentId: string) => (await ok(alice('POST', `/api/v1/agents/${agentId}/claim`, {}))).subtask;
  const history = (id: string) => ok(alice('GET', `/api/v1/subtasks/${id}`));
  const fail = (s: { subtask_id: string; lease_id: string }, error: string, extra: Record<string, unknown> = {}) =>
    ok(alice('POST', `/api/v1/subtasks/${s.subtask_id}/fail`, { lease_id: s.lease_id, error, ...extra }));

  beforeAll(async () => {
    srv = await startTestServer(kind, { sweepIntervalMs: 600_000 });
    alice = restClient(srv.url, await srv.keyFor('alice'));
  });
  afterAll(() => srv?.close());

  it('retries a failure after an exponential, jittered backoff, elsewhere, keeping each attempt’s error', async () => {
    const [a, b] = [await agent(), await agent()];
    const n = await network([a, b], { retry_base_seconds: 2, retry_max_seconds: 60, max_attempts: 5 });
    await ok(alice('POST', `/api/v1/agents/networks/${n.id}/execute`, { task: { subtasks: ['x'] } }));
    const first = (await claim(a)) ?? (await claim(b));
    const holder = first.subtask_id && (await history(first.subtask_id)).assignee_id;
    const other = holder === a ? b : a;
    const failedAt = Date.now();
    expect(await fail(first, 'CUDA error: out of memory')).toMatchObject({ status: 'pending' });
    let h = await history(first.subtask_id);
    // Attempt 1 failed: the retry waits base × 2^0 = 2 s, half of it fixed and half jittered.
    const wait1 = new Date(h.retry_at).getTime() - failedAt;
    expect(wait1).toBeGreaterThanOrEqual(900);
    expect(wait1).toBeLessThanOrEqual(2200);
    expect(h.history).toMatchObject([{ assignee_id: holder, outcome: 'failed', error: 'CUDA error: out of memory' }]);
    // Nobody may claim it while it waits, not even by stealing.
    expect(await claim(other)).toBeNull();
    await srv.server.work.sweep(inSeconds(2.5));
    h = await history(first.subtask_id);
    expect([h.status, h.assignee_id]).toEqual(['assigned', other]);
    // The second failure waits twice as long.
    const second = await claim(other);
    const failedAgain = Date.now();
    await fail(second, 'CUDA error: out of memory (again)');
    h = await history(first.subtask_id);
    const wait2 = new Date(h.retry_at).getTime() - failedAgain;
    expect(wait2).toBeGreaterThanOrEqual(1900);
    expect(wait2).toBeLessThanOrEqual(4200);
    expect(h.history.map((x: { error: string }) => x.error)).toEqual(['CUDA error: out of memory', 'CUDA error: out of memory (again)']);
  });

  it('fails a subtask at once when its worker says retrying cannot help, and keeps it as a dead letter', async () => {
    const a = await agent();
    const n = await network([a], { max_attempts: 5 });
    const e = await ok(alice('POST', `/api/v1/agents/networks/${n.id}/execute`, { task: { subtasks: ['bad input'] } }));
    const s = await claim(a);
    expect(await fail(s, 'schema mismatch in input', { retryable: false })).toMatchObject({ status: 'failed', execution_status: 'failed' });
    const h = await history(s.subtask_id);
    expect(h.error).toBe('schema mismatch in input (not retryable; attempt 1 of 5)');
    const dead = await ok(alice('GET', `/api/v1/dead-letters?execution_id=${e.id}`));
    expect(dead.dead_letters).toMatchObject([{ subtask_id: s.subtask_id, network_id: n.id, attempts: 1, seq: 0 }]);
  });

  it('ends an attempt that runs past max_attempt_seconds whatever its heartbeats say, and runs it elsewhere', async () => {
    const [a, b] = [await agent(), await agent()];
    const n = await network([a, b], { max_attempt_seconds: 2, lease_seconds: 30, retry_base_seconds: 0 });
    await ok(alice('POST', `/api/v1/agents/networks/${n.id}/execute`, { task: { subtasks: ['long'] } }));
    const s = (await claim(a)) ?? (await claim(b));
    const holder = (await history(s.subtask_id)).assignee_id;
    const deadline = Date.parse(s.lease_expires_at);
    expect(deadline - Date.now()).toBeLessThanOrEqual(2100);
    // A heartbeat asking for 30 s more is held to the limit.
    const beat = await ok(alice('POST', `/api/v1/subtasks/${s.subtask_id}/heartbeat`, { lease_id: s.lease_id, lease_seconds: 30 }));
    expect(Date.parse(beat.lease_expires_at)).toBe(deadline);
    await srv.server.work.sweep(inSeconds(3));
    const h = await history(s.subtask_id);
    expect(h.status).toBe('assigned');
    expect(h.assignee_id).not.toBe(holder);
    expect(h.history).toMatchObject([
      { outcome: 'expired', error: expect.stringContaining('ran past its time limit (max_attempt_seconds 2)') },
    ]);
    const metrics = await (await fetch(`${srv.url}/metrics`, { headers: { 'x-api-key': srv.adminKey } })).text();
    expect(metrics).toMatch(/^aitbc_attempts_timed_out_total [1-9]/m);
  });

  it('lists dead letters by network, execution and error, and a redrive completes the execution with its reduce', async () => {
    const [a, b] = [await agent(), await agent()];
    const n = await network([a, b], { max_attempts: 1 });
    const e = await ok(
      alice('POST', `/api/v1/agents/networks/${n.id}/execute`, { task: { items: [1, 2, 3, 4], chunk_size: 1, reduce: 'sum' } }),
    );
    // Two subtasks done, then one fails for good: the execution fails, the fourth is withdrawn.
    const claims = [
      ...(await ok(alice('POST', `/api/v1/agents/${a}/claims`, { max: 4 }))).subtasks,
      ...(await ok(alice('POST', `/api/v1/agents/${b}/claims`, { max: 4 }))).subtasks,
    ].sort((x, y) => x.seq - y.seq);
    expect(claims).toHaveLength(4);
    for (const s of claims.slice(0, 2))
      await ok(alice('POST', `/api/v1/subtasks/${s.subtask_id}/result`, { lease_id: s.lease_id, result: s.payload.items[0] * 10 }));
    await fail(claims[2], 'model weights missing on host');
    const failed = await ok(alice('GET', `/api/v1/agents/networks/${n.id}/executions/${e.id}`));
    expect(failed.status).toBe('failed');

    const list = (query: string) => ok(alice('GET', `/api/v1/dead-letters${query}`));
    expect((await list(`?network_id=${n.id}`)).dead_letters).toMatchObject([
      { subtask_id: claims[2].subtask_id, execution_id: e.id, error: 'model weights missing on host (attempt 1 of 1)' },
    ]);
    expect((await list('?error=weights%20missing')).dead_letters.map((d: { subtask_id: string }) => d.subtask_id)).toContain(
      claims[2].subtask_id,
    );
    expect((await list('?error=no%20such%20words')).dead_letters).toEqual([]);
    // Another owner sees none of them, and cannot redrive them.
    const bob = restClient(srv.url, await srv.keyFor('bob'));
    expect((await bob('GET', `/api/v1/dead-letters?execution_id=${e.id}`)).body.dead_letters).toEqual([]);
    expect((await bob('POST', '/api/v1/dead-letters/redrive', { execution_id: e.id })).body).toEqual({ redriven: [], skipped: [] });
    // A read key may list, not redrive.
    const reader = restClient(srv.url, await srv.keyFor('alice', { scope: 'read' }));
    expect((await reader('POST', '/api/v1/dead-letters/redrive', { execution_id: e.id })).status).toBe(403);

    const redriven = await ok(alice('POST', '/api/v1/dead-letters/redrive', { execution_id: e.id }));
    expect(redriven).toEqual({ redriven: [{ execution_id: e.id, subtasks: 2 }], skipped: [] });
    expect((await list(`?execution_id=${e.id}`)).dead_letters).toEqual([]);
    const running = await ok(alice('GET', `/api/v1/agents/networks/${n.id}/executions/${e.id}`));
    expect(running.status).toBe('running');
    // Fresh attempts: the two undecided subtasks run again, and the execution completes with the sum of all four.
    for (const who of [a, b])
      for (const s of (await ok(alice('POST', `/api/v1/agents/${who}/claims`, { max: 4 }))).subtasks) {
        expect(s.attempt).toBe(1);
        await ok(alice('POST', `/api/v1/subtasks/${s.subtask_id}/result`, { lease_id: s.lease_id, result: s.payload.items[0] * 10 }));
      }
    const done = await ok(alice('GET', `/api/v1/agents/networks/${n.id}/executions/${e.id}?`));
    expect(done).toMatchObject({ status: 'completed', results: { reduced: 100 } });
    const audit = await ok(alice('GET', `/api/v1/audit?action=execution.redrive&target_id=${e.id}`));
    expect(audit.entries).toMatchObject([{ action: 'execution.redrive', target_id: e.id, detail: { subtasks: 2 } }]);
    // The history keeps the failed attempt beside the one that completed.
    expect((await history(claims[2].subtask_id)).history.map((x: { outcome: string }) => x.outcome)).toEqual(['failed', 'completed']);
  });

  it('skips an execution nobody can run any more, saying why, and changes nothing of it', async () => {
    const a = await agent();
    const n = await network([a], { max_attempts: 1 });
    const e = await ok(alice('POST', `/api/v1/agents/networks/${n.id}/execute`, { task: { subtasks: ['x'] } }));
    await fail(await claim(a), 'broken');
    await ok(alice('DELETE', `/api/v1/agents/${a}`));
    const view = await ok(alice('POST', '/api/v1/dead-letters/redrive', { execution_id: e.id }));
    expect(view.redriven).toEqual([]);
    expect(view.skipped).toMatchObject([{ execution_id: e.id, reason: expect.stringContaining('nobody can run subtask 0') }]);
    expect((await ok(alice('GET', `/api/v1/agents/networks/${n.id}/executions/${e.id}`))).status).toBe('failed');
    expect((await ok(alice('GET', `/api/v1/dead-letters?execution_id=${e.id}`))).dead_letters).toHaveLength(1);
  });
});

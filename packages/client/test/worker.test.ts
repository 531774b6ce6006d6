// createWorker end to end, against a real server on each database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../../../apps/server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../../apps/server/test/support/server.ts';
import { type AitbcClient, createClient, createWorker } from '../src/index.ts';
import { startProxy } from './support/proxy.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(databaseKinds)('createWorker on %s', (kind) => {
  let srv: TestServer;
  let key: string;
  let client: AitbcClient;
  /** Requests by tRPC procedure, as the workers made them. */
  const requests = new Map<string, number>();
  const counting: typeof fetch = (input, init) => {
    const path = new URL(String(input)).pathname.replace('/trpc/', '');
    for (const p of path.split(',')) requests.set(p, (requests.get(p) ?? 0) + 1);
    return fetch(input, init);
  };

  async function networkOf(name: string, settings: Record<string, unknown> = {}) {
    const agent = await client.agent.register.mutate({ name });
    const network = await client.network.create.mutate({ name, agents: [agent.id], claim_timeout_seconds: 3600, ...settings });
    return { agent: agent.id, network: network.id };
  }

  const until = async <T>(probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error('timed out');
      await sleep(25);
    }
  };

  beforeAll(async () => {
    srv = await startTestServer(kind);
    key = await srv.keyFor('sdk');
    client = createClient({ url: srv.url, apiKey: key });
  });
  afterAll(() => srv?.close());

  it('runs a handler on every subtask, claiming several at once and posting outcomes in batches', async () => {
    const { agent, network } = await networkOf('sdk-1');
    const e = await client.execution.execute.mutate({
      network_id: network,
      task: { items: Array.from({ length: 200 }, (_, i) => i), chunk_size: 1, reduce: 'sum' },
    });
    requests.clear();
    const worker = createWorker({
      client: createClient({ url: srv.url, apiKey: key, fetch: counting }),
      agent,
      concurrency: 16,
      handler: async (payload) => {
        await sleep(1);
        return (payload as { items: number[] }).items[0]! * 2;
      },
    });
    const running = worker.run();
    const done = await until(async () => {
      const view = await client.execution.get.query({ network_id: network, execution_id: e.id });
      return view.status === 'completed' ? view : undefined;
    });
    worker.stop();
    expect(await running).toEqual({ claimed: 200, completed: 200, failed: 0, lost: 0 });
    expect(done.results?.reduced).toBe(2 * ((199 * 200) / 2));
    // Fewer requests than subtasks, each way: claims and outcomes went several at a time.
    expect(requests.get('work.claims')!).toBeLessThan(100);
    expect(requests.get('work.results')!).toBeLessThan(100);
  });

  it('waits for work when idle, and takes what is assigned at once (long poll)', async () => {
    const { agent, network } = await networkOf('sdk-2');
    const claimedAt: number[] = [];
    const worker = createWorker({ url: srv.url, apiKey: key, agent, handler: () => claimedAt.push(performance.now()) });
    const running = worker.run();
    await sleep(500);
    const submitted = performance.now();
    await client.execution.execute.mutate({ network_id: network, task: { subtasks: ['late'] } });
    await until(async () => (claimedAt.length > 0 ? true : undefined));
    expect(claimedAt[0]! - submitted).toBeLessThan(1000);
    worker.stop();
    expect(await running).toMatchObject({ claimed: 1, completed: 1 });
  });

  it('aborts a handler whose lease is lost (its execution cancelled), and counts it lost', async () => {
    const { agent, network } = await networkOf('sdk-3', { lease_seconds: 1 });
    const e = await client.execution.execute.mutate({ network_id: network, task: { subtasks: ['slow'] } });
    let aborted = false;
    const worker = createWorker({
      client,
      agent,
      handler: (_payload, job) =>
        new Promise((resolve) => {
          job.signal.addEventListener('abort', () => {
            aborted = true;
            resolve('never posted');
          });
        }),
    });
    const running = worker.run();
    await until(async () =>
      (await client.execution.get.query({ network_id: network, execution_id: e.id })).status === 'running' ? true : undefined,
    );
    await client.execution.cancel.mutate({ network_id: network, execution_id: e.id });
    await until(async () => (aborted ? true : undefined));
    worker.stop();
    expect(await running).toEqual({ claimed: 1, completed: 0, failed: 0, lost: 1 });
  });

  it('a backup copy: an idle worker’s waiting claim takes a straggler’s backup, and the losing copy’s handler is aborted', async () => {
    const slow = await client.agent.register.mutate({ name: 'sdk-straggler' });
    const fast = await client.agent.register.mutate({ name: 'sdk-backup' });
    const network = await client.network.create.mutate({
      name: 'sdk-speculation',
      agents: [slow.id, fast.id],
      lease_seconds: 3,
      speculation: true,
      speculation_quantile: 0.5,
    });
    const e = await client.execution.execute.mutate({ network_id: network.id, task: { items: [1, 2], chunk_size: 1 } });
    let aborted = false;
    const stuck = createWorker({
      client,
      agent: slow.id,
      handler: (_payload, job) =>
        new Promise((resolve) => {
          job.signal.addEventListener('abort', () => {
            aborted = true;
            resolve('never posted');
          });
        }),
    });
    const stuckRun = stuck.run();
    await until(async () =>
      (await client.execution.get.query({ network_id: network.id, execution_id: e.id })).status === 'running' ? true : undefined,
    );
    // The fast worker finishes its own subtask, then waits in a long poll, which wakes once the other copy is a straggler.
    const helper = createWorker({ client, agent: fast.id, handler: (payload) => payload });
    const helperRun = helper.run();
    const done = await until(async () => {
      const view = await client.execution.get.query({ network_id: network.id, execution_id: e.id });
      return view.status === 'completed' ? view : undefined;
    });
    expect(done.speculation).toMatchObject({ backups_launched: 1, backups_won: 1 });
    expect(done.subtasks.every((s) => s.assignee_id === fast.id)).toBe(true);
    await until(async () => (aborted ? true : undefined)); // at its next heartbeat, a third of the lease later
    stuck.stop();
    helper.stop();
    expect(await stuckRun).toEqual({ claimed: 1, completed: 0, failed: 0, lost: 1 });
    expect((await helperRun).completed).toBe(2);
  });

  it('reports a throwing handler as a failure, and on stop finishes what runs; abandoning reports what runs as failed', async () => {
    const { agent, network } = await networkOf('sdk-4', { max_attempts: 1 });
    const e = await client.execution.execute.mutate({ network_id: network, task: { subtasks: [1] } });
    const lines: string[] = [];
    const failing = createWorker({
      client,
      agent,
      handler: () => Promise.reject(new Error('out of memory')),
      log: (l) => lines.push(l),
      maxSubtasks: 1,
    });
    expect(await failing.run()).toEqual({ claimed: 1, completed: 0, failed: 1, lost: 0 });
    expect(lines.some((l) => /failed in [\d.]+ s: out of memory$/.test(l))).toBe(true);
    const view = await client.execution.get.query({ network_id: network, execution_id: e.id });
    expect(view.error).toMatch(/out of memory/);

    await client.execution.execute.mutate({ network_id: network, task: { subtasks: [2, 3] } });
    let started = 0;
    const slow = createWorker({
      client,
      agent,
      concurrency: 2,
      handler: (_p, job) =>
        new Promise((resolve, reject) => {
          started++;
          job.signal.addEventListener('abort', () => reject(new Error('abandoned')));
          setTimeout(() => resolve('finished'), 300);
        }),
    });
    const running = slow.run();
    await until(async () => (started === 2 ? true : undefined));
    slow.stop();
    expect(await running).toEqual({ claimed: 2, completed: 2, failed: 0, lost: 0 });

    await client.network.update.mutate({ network_id: network, max_attempts: 3 });
    await client.execution.execute.mutate({ network_id: network, task: { subtasks: [4] } });
    started = 0;
    const abandoned = createWorker({
      client,
      agent,
      handler: (_p, job) =>
        new Promise((_resolve, reject) => {
          started++;
          job.signal.addEventListener('abort', () => reject(new Error('abandoned')));
        }),
    });
    const stopped = abandoned.run();
    await until(async () => (started === 1 ? true : undefined));
    abandoned.abandon();
    expect(await stopped).toEqual({ claimed: 1, completed: 0, failed: 1, lost: 0 });
  });

  it('works a swarm member’s votes through to a decided consensus', async () => {
    const members = await Promise.all([1, 2, 3].map(() => client.swarm.join.mutate({ role: 'monitor', capability: `sdk-${kind}` })));
    const workers = members.map((m) => createWorker({ client, member: m.member_id, handler: () => ({ answer: 42 }) }));
    const running = workers.map((w) => w.run());
    const task = await client.swarm.coordinate.mutate({
      strategy: 'consensus',
      parameters: { capability: `sdk-${kind}`, payload: { q: 1 }, collaborators: 3 },
    });
    const status = await until(async () => {
      const s = await client.swarm.task.query({ task_id: task.task_id });
      return s.status === 'completed' ? s : undefined;
    });
    expect(status.consensus).toMatchObject({ consensus_reached: true, confidence_score: 1 });
    for (const w of workers) w.stop();
    expect((await Promise.all(running)).map((s) => s.completed)).toEqual([1, 1, 1]);
  });
  it('when the server takes outcomes slowly, holds at most its slots and one results batch, extends every lease, and loses none', async () => {
    // Results wait 1.5 s at the proxy, far longer than the handlers take, and close to the 2 s lease: a worker that went
    // on claiming would pile up leases, and one that stopped extending a lease whose outcome is on its way would lose it.
    const { agent, network } = await networkOf('sdk-slow-results', { lease_seconds: 2 });
    const proxy = await startProxy(srv.url);
    proxy.delay(['work.results'], 1500);
    const N = 300;
    const e = await client.execution.execute.mutate({ network_id: network, task: { subtasks: Array.from({ length: N }, (_, i) => i) } });
    const handled = new Map<unknown, number>();
    const lines: string[] = [];
    const worker = createWorker({
      url: proxy.url,
      apiKey: key,
      agent,
      concurrency: 4,
      log: (l) => lines.push(l),
      handler: (payload) => {
        handled.set(payload, (handled.get(payload) ?? 0) + 1);
        return payload;
      },
    });
    const running = worker.run();
    let most = 0;
    const done = await until(async () => {
      const leased = await srv.server.db.run((db) => db.subtask.count({ where: { executionId: e.id, status: 'leased' } }));
      most = Math.max(most, leased);
      const view = await client.execution.get.query({ network_id: network, execution_id: e.id });
      return view.status === 'completed' ? view : undefined;
    }, 60_000);
    worker.stop();
    expect(await running).toEqual({ claimed: N, completed: N, failed: 0, lost: 0 });
    await proxy.close();
    // At most the 4 slots and a results batch (100) whose outcomes are on their way; more than the slots alone.
    expect(most).toBeLessThanOrEqual(104);
    expect(most).toBeGreaterThan(4);
    expect([...handled.values()]).toEqual(Array(N).fill(1));
    expect(done.subtasks.map((s) => [s.status, s.attempts])).toEqual(Array(N).fill(['completed', 1]));
    expect(lines.filter((l) => /lost|did not take|refused|expired/.test(l))).toEqual([]);
  });

  it('extends every lease it holds, past the 1,000 one heartbeat carries, in chunks', async () => {
    const { agent, network } = await networkOf('sdk-many-leases', { lease_seconds: 3 });
    const executions: { id: string }[] = [];
    for (const n of [1000, 100])
      executions.push(
        await client.execution.execute.mutate({ network_id: network, task: { subtasks: Array.from({ length: n }, (_, i) => i) } }),
      );
    let started = 0;
    const release = new AbortController();
    const lines: string[] = [];
    const worker = createWorker({
      client,
      agent,
      concurrency: 1100,
      log: (l) => lines.push(l),
      handler: async (payload, job) => {
        started++;
        // Every handler holds its lease until all 1,100 have run for longer than two leases.
        await new Promise<void>((resolve) => release.signal.addEventListener('abort', () => resolve(), { once: true }));
        if (job.signal.aborted) throw new Error('lease lost');
        return payload;
      },
    });
    const running = worker.run();
    await until(async () => (started === 1100 ? true : undefined), 60_000);
    await sleep(7000);
    release.abort();
    await until(async () => {
      const views = await Promise.all(executions.map((e) => client.execution.get.query({ network_id: network, execution_id: e.id })));
      return views.every((v) => v.status === 'completed') ? true : undefined;
    }, 60_000);
    worker.stop();
    expect(await running).toEqual({ claimed: 1100, completed: 1100, failed: 0, lost: 0 });
    expect(lines.filter((l) => /lost|did not take|refused|expired/.test(l))).toEqual([]);
  });

  it('a lease its heartbeat could not extend (its outcome on the way) does not make it beat faster', async () => {
    const { agent, network } = await networkOf('sdk-no-spin', { lease_seconds: 3 });
    const proxy = await startProxy(srv.url);
    proxy.delay(['work.results'], 6000);
    const e = await client.execution.execute.mutate({ network_id: network, task: { subtasks: ['held'] } });
    const lines: string[] = [];
    const worker = createWorker({ url: proxy.url, apiKey: key, agent, log: (l) => lines.push(l), handler: (p) => p });
    const running = worker.run();
    await until(async () => (lines.some((l) => l.endsWith(': claimed')) ? true : undefined));
    // Its result is held at the proxy; the execution is cancelled meanwhile, so the next beat cannot extend the lease.
    await client.execution.cancel.mutate({ network_id: network, execution_id: e.id });
    await sleep(1500);
    const before = proxy.calls('work.heartbeats');
    await until(async () => (worker.summary.lost === 1 ? true : undefined), 15_000);
    // Nothing left to extend once the beat refused its lease: no beat at all, let alone one each 100 ms near its old end.
    expect(proxy.calls('work.heartbeats') - before).toBeLessThanOrEqual(1);
    worker.stop();
    expect(await running).toEqual({ claimed: 1, completed: 0, failed: 0, lost: 1 });
    expect(lines.some((l) => /cancelled/.test(l))).toBe(true);
    await proxy.close();
  });

  it('cancelling a swarm task aborts its members’ running handlers at their next heartbeat, and nothing is reported failed', async () => {
    const members = await Promise.all([1, 2].map(() => client.swarm.join.mutate({ role: 'monitor', capability: `sdk-cancel-${kind}` })));
    const aborted = new Set<string>();
    const lines: string[] = [];
    const workers = members.map((m) =>
      createWorker({
        client,
        member: m.member_id,
        log: (l) => lines.push(l),
        handler: (_payload, job) =>
          new Promise((_resolve, reject) => {
            job.signal.addEventListener('abort', () => {
              aborted.add(m.member_id);
              reject(new Error('aborted'));
            });
          }),
      }),
    );
    const running = workers.map((w) => w.run());
    const task = await client.swarm.coordinate.mutate({
      strategy: 'consensus',
      parameters: { capability: `sdk-cancel-${kind}`, payload: { q: 1 }, collaborators: 2, lease_seconds: 2 },
    });
    await until(async () => (workers.every((w) => w.summary.claimed === 1) ? true : undefined));
    await client.swarm.cancel.mutate({ task_id: task.task_id });
    await until(async () => (aborted.size === 2 ? true : undefined));
    for (const w of workers) w.stop();
    expect(await Promise.all(running)).toEqual(Array(2).fill({ claimed: 1, completed: 0, failed: 0, lost: 1 }));
    expect(lines.filter((l) => /cancelled/.test(l))).toHaveLength(2);
    expect(lines.filter((l) => /failed|error|refused/i.test(l))).toEqual([]);
  });

  it('a server that stops answering: abandoning ends run() once the leases ran out, saying what was abandoned', async () => {
    const { agent, network } = await networkOf('sdk-silent', { lease_seconds: 2 });
    await client.execution.execute.mutate({ network_id: network, task: { subtasks: ['stuck'] } });
    const proxy = await startProxy(srv.url);
    const lines: string[] = [];
    const worker = createWorker({
      url: proxy.url,
      apiKey: key,
      agent,
      log: (l) => lines.push(l),
      handler: (_p, job) => new Promise((_resolve, reject) => job.signal.addEventListener('abort', () => reject(new Error('abandoned')))),
    });
    const running = worker.run();
    await until(async () => (worker.summary.claimed === 1 ? true : undefined));
    // A server that accepts requests and never answers (a paused process, a network dropping packets).
    proxy.silence();
    worker.abandon();
    const ended = await Promise.race([running, sleep(15_000).then(() => 'still running')]);
    expect(ended).toEqual({ claimed: 1, completed: 0, failed: 0, lost: 1 });
    expect(lines.some((l) => /the lease ended before the server could be reached/.test(l))).toBe(true);
    await proxy.close();
  });
});

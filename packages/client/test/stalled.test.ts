// A worker that claims and then stalls for ever, heartbeating all the while, must not hold an execution with
// default settings (issue 26's run: 30 subtasks of ~0.2 s on 3 agents, one of which stalls). The default's
// conservative speculation gives the stalled subtask a backup copy on an idle agent; the attempt time limit
// bounds it whatever. Real server, real createWorker workers, both databases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../../../apps/server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../../apps/server/test/support/server.ts';
import { createClient, createWorker } from '../src/index.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(databaseKinds)('a stalled worker with default settings on %s', (kind) => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer(kind, { sweepIntervalMs: 1000 });
  });
  afterAll(() => srv?.close());

  it('does not hold its execution: 30 subtasks on 3 agents, one stalled and heartbeating, complete in under 30 s', async () => {
    const key = await srv.keyFor('stall');
    const client = createClient({ url: srv.url, apiKey: key });
    const agents = [];
    for (const name of ['healthy-1', 'healthy-2', 'stalled']) agents.push(await client.agent.register.mutate({ name }));
    // Every setting at its default.
    const network = await client.network.create.mutate({ name: 'stall', agents: agents.map((a) => a.id) });
    let stalledClaims = 0;
    const workers = agents.map((a, i) =>
      createWorker({
        client,
        agent: a.id,
        waitSeconds: 1,
        handler: async (payload, job) => {
          if (i === 2) {
            // Stalls until its lease is lost (a backup won) or the worker is abandoned at the end of the test.
            stalledClaims++;
            return new Promise((_, reject) => job.signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true }));
          }
          await sleep(200);
          return payload;
        },
      }),
    );
    const running = workers.map((w) => w.run());
    const started = performance.now();
    const execution = await client.execution.execute.mutate({
      network_id: network.id,
      task: { items: Array.from({ length: 30 }, (_, i) => i), chunk_size: 1 },
    });
    let status = execution.status as string;
    while (status !== 'completed' && performance.now() - started < 30_000) {
      await sleep(100);
      status = (await client.execution.get.query({ network_id: network.id, execution_id: execution.id })).status;
    }
    const seconds = (performance.now() - started) / 1000;
    for (const w of workers) w.abandon();
    await Promise.allSettled(running);
    const done = await client.execution.get.query({ network_id: network.id, execution_id: execution.id });
    console.log(
      `[stalled ${kind}] completed in ${seconds.toFixed(1)} s; the stalled agent claimed ${stalledClaims}; backups ${JSON.stringify(done.speculation)}`,
    );
    expect(stalledClaims).toBeGreaterThan(0);
    expect(done.status).toBe('completed');
    expect(seconds).toBeLessThan(30);
    // Every subtask's own answer (the healthy handlers echo their payload), in task order: the stalled one's from its backup.
    expect(done.results?.subtask_results).toHaveLength(30);
    expect(new Set(done.results?.subtask_results.map((r) => JSON.stringify(r))).size).toBe(30);
  });
});

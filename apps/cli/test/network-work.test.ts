// Agents really doing the work: a server, three `aitbc agent work` processes
// running a small real script, and a network for each strategy executing a
// task through the `aitbc` executable. Every item must be processed exactly
// as often as the strategy says, the reduced result must be right, and the
// status metrics must equal what the workers' own logs say they did.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { COORDINATION_STRATEGIES, type CoordinationStrategy, type ExecutionView, type NetworkStatusView } from '@aitbc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../../server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../server/test/support/server.ts';
import { aitbc, ok, until, spawnAitbc, tempHome } from './support/aitbc.ts';

const script = fileURLToPath(new URL('./fixtures/double-items.mjs', import.meta.url));
const ITEMS = Array.from({ length: 12 }, (_, i) => i + 1);
const DOUBLED_SUM = ITEMS.reduce((s, i) => s + 2 * i, 0);

/** How many times each item is processed under a strategy with three live agents. */
const COPIES: Record<CoordinationStrategy, number> = {
  'round-robin': 1,
  'least-loaded': 1,
  'capability-match': 1,
  centralized: 1,
  decentralized: 3,
  hybrid: 2,
};

interface Worker {
  name: string;
  log: string;
  child: ChildProcessByStdio<null, Readable, Readable>;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

describe.each(databaseKinds)('agent workers doing a network’s work on %s', (kind) => {
  let srv: TestServer;
  const home = tempHome();
  let env: Record<string, string>;
  const workers: Worker[] = [];
  const cli = (args: string[]) => aitbc(args, { home: home.home, env });

  function startWorker(name: string, extraEnv: Record<string, string> = {}, flags: string[] = []): Worker {
    const log = join(home.home, `${name}.log`);
    writeFileSync(log, '');
    const child = spawnAitbc(
      ['agent', 'work', '--agent', name, '--exec', `"${process.execPath}" "${script}"`, '--poll-interval', '0.1', ...flags],
      {
        home: home.home,
        env: { ...env, WORK_LOG: log, ...extraEnv },
      },
    );
    const worker: Worker = { name, log, child, stdout: '', stderr: '', exited: new Promise((r) => child.on('exit', (code) => r(code))) };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (worker.stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (worker.stderr += d));
    workers.push(worker);
    return worker;
  }

  /** The log lines `execution seq replica item` each worker wrote, for one execution. */
  function linesFor(executionId: string): Map<string, string[][]> {
    return new Map(
      workers.map((w) => [
        w.name,
        readFileSync(w.log, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith(`${executionId} `))
          .map((l) => l.split(' ')),
      ]),
    );
  }

  beforeAll(async () => {
    srv = await startTestServer(kind);
    env = { AITBC_URL: srv.url, AITBC_API_KEY: await srv.keyFor('alice') };
    ok(await cli(['agent', 'register', '--name', 'a1', '--capabilities', 'gpu']));
    ok(await cli(['agent', 'register', '--name', 'a2', '--capabilities', 'gpu,llm']));
    ok(await cli(['agent', 'register', '--name', 'a3', '--capabilities', 'cpu']));
    for (const name of ['a1', 'a2', 'a3']) startWorker(name);
    // A claim marks an agent online: wait until every worker has polled once.
    await until('the workers to claim', async () => {
      const { agents } = JSON.parse(ok(await cli(['agent', 'list', '-o', 'json']))) as { agents: { status: string }[] };
      return agents.every((a) => a.status === 'online') ? true : undefined;
    });
  });

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await srv?.close();
    home.remove();
  });

  it.each(COORDINATION_STRATEGIES)('%s: every item processed as often as the strategy says, and the sum is right', async (strategy) => {
    const created = JSON.parse(
      ok(
        await cli([
          'agent',
          'network',
          'create',
          '--name',
          `net-${strategy}`,
          '--agents',
          'a1,a2,a3',
          '--strategy',
          strategy,
          // Each item exactly as often as the strategy runs it: no backup copy of a command that happened to start slowly.
          '--no-speculation',
          '-o',
          'json',
        ]),
      ),
    );
    const task = { items: ITEMS, reduce: 'sum', ...(strategy === 'capability-match' ? { requires: ['gpu'] } : {}) };
    const taskFile = join(home.home, `task-${strategy}.json`);
    writeFileSync(taskFile, JSON.stringify(task));

    const run = await cli(['agent', 'network', 'execute', created.id, '--task', taskFile, '--wait', '--interval', '0.1', '-o', 'json']);
    const execution = JSON.parse(ok(run)) as ExecutionView;
    expect(execution.status).toBe('completed');
    expect(execution.results).toMatchObject({ reduce: 'sum', reduced: DOUBLED_SUM, reduce_error: null });
    expect(run.stderr).toMatch(/\[##########\] \d+\/\d+ subtasks {2}completed/);

    // The workers' logs: each item as often as the strategy runs it, no more, no less.
    const lines = linesFor(execution.id);
    const processed = [...lines.values()].flat().map((l) => Number(l[3]));
    const copies = COPIES[strategy];
    expect(processed.sort((a, b) => a - b)).toEqual(ITEMS.flatMap((i) => Array(copies).fill(i)));
    if (strategy === 'capability-match') expect(lines.get('a3')).toEqual([]);
    if (strategy === 'decentralized')
      for (const name of ['a1', 'a2', 'a3'])
        expect(
          lines
            .get(name)!
            .map((l) => Number(l[3]))
            .sort((a, b) => a - b),
        ).toEqual(ITEMS);
    // Accepted results, in task order, are one per subtask.
    const accepted = execution.subtasks.filter((s) => s.accepted);
    expect(accepted.map((s) => s.seq)).toEqual([...new Set(execution.subtasks.map((s) => s.seq))]);

    // Status: each agent's completed attempts are the subtasks its log shows.
    const status = JSON.parse(ok(await cli(['agent', 'network', 'status', created.id, '-o', 'json']))) as NetworkStatusView;
    expect(status).toMatchObject({ agent_count: 3, active_tasks: 0, total_executions: 1 });
    const m = status.performance_metrics;
    expect(m).toMatchObject({ success_rate: 1, queue_depth: 0, in_flight: 0 });
    const subtasksDone = (name: string) => new Set(lines.get(name)!.map((l) => `${l[1]}/${l[2]}`)).size;
    const names = ['a1', 'a2', 'a3'];
    expect(m.agents!.map((a) => [a.name, a.completed, a.failed, a.expired])).toEqual(names.map((n) => [n, subtasksDone(n), 0, 0]));
    expect(m.sample).toEqual({ executions: 1, attempts: names.reduce((s, n) => s + subtasksDone(n), 0) });
    const took = (Date.parse(execution.completed_at!) - Date.parse(execution.created_at)) / 1000;
    expect(m.avg_execution_time).toBeCloseTo(took, 3);
    expect(m.disagreement_rate).toBe(strategy === 'hybrid' || strategy === 'decentralized' ? 0 : null);
  });

  it('a worker killed mid-subtask loses nothing: the lease expires and another agent completes it once', async () => {
    ok(await cli(['agent', 'register', '--name', 'slowpoke']));
    const slow = startWorker('slowpoke', { WORK_SLOW: '20' });
    await until('slowpoke to come online', async () => {
      const { agents } = JSON.parse(ok(await cli(['agent', 'list', '-o', 'json']))) as { agents: { name: string; status: string }[] };
      return agents.find((a) => a.name === 'slowpoke')?.status === 'online' ? true : undefined;
    });
    // Round-robin starts with the network's first agent: slowpoke gets the only subtask. (The straggler flags change
    // nothing here: one subtask leaves nothing to steal, and no finished sibling to judge it by.)
    const created = JSON.parse(
      ok(
        await cli([
          'agent',
          'network',
          'create',
          '--name',
          'killed',
          '--agents',
          'slowpoke,a2',
          '--lease-seconds',
          '2',
          '--no-work-stealing',
          '--speculation',
          '--speculation-multiplier',
          '2',
          '-o',
          'json',
        ]),
      ),
    );
    expect(created).toMatchObject({ work_stealing: false, speculation: true, speculation_multiplier: 2 });
    const taskFile = join(home.home, 'task-killed.json');
    writeFileSync(taskFile, JSON.stringify({ items: ITEMS, chunk_size: ITEMS.length, reduce: 'sum' }));
    const submitted = JSON.parse(
      ok(await cli(['agent', 'network', 'execute', created.id, '--task', taskFile, '-o', 'json'])),
    ) as ExecutionView;
    expect(submitted.subtasks).toHaveLength(1);

    await until('slowpoke to start the subtask', () => (existsSync(`${slow.log}.started`) ? true : undefined));
    slow.child.kill('SIGKILL');

    const done = await until('the execution to complete elsewhere', async () => {
      const e = JSON.parse(ok(await cli(['agent', 'network', 'execution', created.id, submitted.id, '-o', 'json']))) as ExecutionView;
      return e.status === 'completed' ? e : undefined;
    });
    expect(done.results).toMatchObject({ subtask_results: [DOUBLED_SUM], reduced: DOUBLED_SUM });
    expect(done.subtasks).toMatchObject([{ status: 'completed', attempts: 2, accepted: true }]);
    const lines = linesFor(done.id);
    expect(lines.get('slowpoke')).toEqual([]);
    expect(lines.get('a2')!.map((l) => Number(l[3]))).toEqual(ITEMS);

    const status = JSON.parse(ok(await cli(['agent', 'network', 'status', created.id, '-o', 'json']))) as NetworkStatusView;
    const bySlowpoke = status.performance_metrics.agents!.find((a) => a.name === 'slowpoke')!;
    expect(bySlowpoke).toMatchObject({ completed: 0, expired: 1, failure_rate: 1 });
  });

  it('a failing command posts its stderr as the failure; SIGTERM stops a worker cleanly with a summary', async () => {
    ok(await cli(['agent', 'register', '--name', 'broken']));
    const broken = startWorker('broken', { WORK_FAIL: 'disk full' });
    const created = JSON.parse(
      ok(await cli(['agent', 'network', 'create', '--name', 'failing', '--agents', 'broken', '--max-attempts', '1', '-o', 'json'])),
    );
    const taskFile = join(home.home, 'task-failing.json');
    writeFileSync(taskFile, JSON.stringify({ items: [1, 2] }));
    const run = await cli(['agent', 'network', 'execute', created.id, '--task', taskFile, '--wait', '--interval', '0.1', '-o', 'json']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /aitbc: execution \S+ failed: subtask 0 failed: .*exited with status 3: cannot process items at offset 0: disk full/,
    );

    broken.child.kill('SIGTERM');
    expect(await broken.exited).toBe(0);
    expect(broken.stdout).toMatch(/^agent_id: +\S+\nclaimed: +1\ncompleted: +0\nfailed: +1\nlost: +0\n$/);
    expect(broken.stderr).toMatch(
      /claimed\n.*failed in [\d.]+ s: the command exited with status 3: cannot process items at offset 0: disk full/,
    );
    const { agents } = JSON.parse(ok(await cli(['agent', 'list', '-o', 'json']))) as { agents: { name: string; status: string }[] };
    expect(agents.find((a) => a.name === 'broken')?.status).toBe('offline');
  });
});

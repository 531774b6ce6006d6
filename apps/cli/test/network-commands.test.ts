// The `agent network` and `agent work` run functions, called directly against
// a real server in this process.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, createWorker, type AitbcClient } from '@aitbc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../../server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../server/test/support/server.ts';
import { runAgentGet } from '../src/cmd/agent/get.ts';
import { runAgentRegister } from '../src/cmd/agent/register.ts';
import { runAgentUpdate } from '../src/cmd/agent/update.ts';
import { runAgentWork } from '../src/cmd/agent/work.ts';
import { runNetworkCreate } from '../src/cmd/network/create.ts';
import { runNetworkGet } from '../src/cmd/network/get.ts';
import { readTask, runNetworkExecute } from '../src/cmd/network/execute.ts';
import { runNetworkList } from '../src/cmd/network/list.ts';
import { renderOptimization, runNetworkOptimize } from '../src/cmd/network/optimize.ts';
import { renderNetworkStatus, runNetworkStatus, watchNetworkStatus } from '../src/cmd/network/status.ts';
import { CLEAR_SCREEN } from '../src/progress.ts';
import { runNetworkUpdate } from '../src/cmd/network/update.ts';
import { CliError, UsageError } from '../src/failure.ts';
import { interpretOutcome } from '../src/worker.ts';
import { until } from './support/aitbc.ts';

const never = new AbortController().signal;

describe.each(databaseKinds)('agent network commands on %s', (kind) => {
  let srv: TestServer;
  let alice: { client: AitbcClient };
  const dir = mkdtempSync(join(tmpdir(), 'aitbc-net-'));
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    srv = await startTestServer(kind);
    alice = { client: createClient({ url: srv.url, apiKey: await srv.keyFor('alice') }) };
    for (const name of ['w1', 'w2', 'w3']) ids[name] = (await runAgentRegister({ name, capabilities: ['cpu'] }, alice)).id;
  });
  afterAll(() => srv?.close());

  it('create takes agent names or ids; an unknown or ambiguous one is an error and creates nothing', async () => {
    const net = await runNetworkCreate({ name: 'mixed', agents: ['w1', ids.w2!, 'w1'] }, alice);
    expect(net.agents).toEqual([ids.w1, ids.w2]);
    expect(net.coordination_strategy).toBe('round-robin');

    const before = (await runNetworkList({}, alice)).total_count;
    await expect(runNetworkCreate({ name: 'x', agents: ['w1', 'nobody'] }, alice)).rejects.toThrow(/unknown agent 'nobody'/);
    // An agent whose name is another agent's id.
    await runAgentRegister({ name: ids.w3! }, alice);
    await expect(runNetworkCreate({ name: 'x', agents: [ids.w3!] }, alice)).rejects.toThrow(/ambiguous agent/);
    await expect(runNetworkCreate({ name: 'x', agents: ['w1'], coordination: 'hybrid', strategy: 'centralized' }, alice)).rejects.toThrow(
      UsageError,
    );
    expect((await runNetworkList({}, alice)).total_count).toBe(before);
  });

  it('takes a name wherever an agent or a network is named, and refuses a network name two networks share', async () => {
    expect((await runAgentGet({ id: 'w2' }, alice)).id).toBe(ids.w2);
    expect((await runAgentUpdate({ id: 'w2', description: 'second' }, alice)).description).toBe('second');
    await expect(runAgentGet({ id: 'nobody' }, alice)).rejects.toThrow(/unknown agent 'nobody': not an id or name of one of your agents/);
    const net = await runNetworkCreate({ name: 'by-name', agents: ['w1'] }, alice);
    expect((await runNetworkGet({ id: 'by-name' }, alice)).id).toBe(net.id);
    expect((await runNetworkStatus({ id: 'by-name' }, alice)).network_id).toBe(net.id);
    await expect(runNetworkGet({ id: 'no-such-network' }, alice)).rejects.toThrow(/unknown network 'no-such-network'/);
    const twin = await runNetworkCreate({ name: 'by-name', agents: ['w2'] }, alice);
    const ambiguous = runNetworkGet({ id: 'by-name' }, alice);
    await expect(ambiguous).rejects.toThrow(CliError);
    await expect(ambiguous).rejects.toThrow(new RegExp(`ambiguous network 'by-name': 2 of your networks have that name .*${twin.id}`));
    expect((await runNetworkGet({ id: twin.id }, alice)).agents).toEqual([ids.w2]);
  });

  it('update changes only what is given, resolving names; nothing to change is a usage error', async () => {
    const net = await runNetworkCreate({ name: 'to-update', agents: ['w1'], coordination: 'centralized' }, alice);
    await expect(runNetworkUpdate({ id: net.id }, alice)).rejects.toThrow(UsageError);
    const updated = await runNetworkUpdate({ id: net.id, agents: ['w2', 'w1'], replication: 2, status: 'paused' }, alice);
    expect(updated).toMatchObject({
      name: 'to-update',
      agents: [ids.w2, ids.w1],
      coordination_strategy: 'centralized',
      status: 'paused',
      replication: 2,
    });
  });

  it('reads a task file and says what is wrong with a bad one', async () => {
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return name;
    };
    expect(await readTask(file('ok.json', '{"items":[1]}'), { cwd: dir })).toEqual({ items: [1] });
    await expect(readTask('missing.json', { cwd: dir })).rejects.toThrow('cannot read the task file missing.json: no such file');
    await expect(readTask(file('bad.json', '{"items":'), { cwd: dir })).rejects.toThrow(/the task in bad.json is not valid JSON/);
    await expect(readTask(file('list.json', '[1,2]'), { cwd: dir })).rejects.toThrow(/must be a JSON object .* not an array/);
    expect(await readTask('-', { cwd: dir, readStdin: async () => '{"subtasks":["a"]}' })).toEqual({ subtasks: ['a'] });
  });

  it('execute --wait follows the work of in-process workers to the reduced result; status and optimize show what they did', async () => {
    // No backup copies: every claim here must end completed, and each agent's count is checked against its own.
    const net = await runNetworkCreate({ name: 'busy', agents: ['w1', 'w2'], speculation: false }, alice);
    const progress: string[] = [];
    const stop = new AbortController();
    // Two workers, two slots each, running a real command that sums its chunk.
    const exec = `"${process.execPath}" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const p=JSON.parse(s);console.log(JSON.stringify(p.items.reduce((a,b)=>a+b,0)))})'`;
    const workers = ['w1', 'w2'].map((agent) =>
      runAgentWork({ agent, exec, concurrency: 2, pollInterval: 0.05 }, { ...alice, log: () => {}, stop: stop.signal, abandon: never }),
    );
    writeFileSync(join(dir, 'sum.json'), JSON.stringify({ items: Array.from({ length: 40 }, (_, i) => i), chunk_size: 5, reduce: 'sum' }));
    // Both workers' first claims are their agents' first signs of life: until then the strategy would rightly
    // give everything to whichever agent is live.
    await until('both agents online', async () =>
      (await Promise.all(['w1', 'w2'].map((id) => runAgentGet({ id }, alice)))).every((a) => a.status === 'online') ? true : undefined,
    );
    const done = await runNetworkExecute(
      { id: net.id, task: 'sum.json', wait: true, interval: 0.05 },
      { ...alice, cwd: dir, stderr: (t) => progress.push(t), tty: false },
    );
    stop.abort();
    const summaries = await Promise.all(workers);

    expect(done.status).toBe('completed');
    expect(done.results).toMatchObject({ reduce: 'sum', reduced: 780, subtask_results: [10, 35, 60, 85, 110, 135, 160, 185] });
    expect(progress.at(-1)).toBe('[##########] 8/8 subtasks  completed\n');
    expect(summaries.map((s) => s.agent_id)).toEqual([ids.w1, ids.w2]);
    expect(summaries.reduce((n, s) => n + s.completed, 0)).toBe(8);
    expect(summaries.every((s) => s.failed === 0 && s.lost === 0 && s.claimed === s.completed)).toBe(true);

    const status = await runNetworkStatus({ id: net.id, metrics: 'agents,success_rate' }, alice);
    expect(Object.keys(status.performance_metrics).sort()).toEqual(['agents', 'success_rate']);
    expect(status.performance_metrics.agents!.map((a) => a.completed)).toEqual(summaries.map((s) => s.completed));
    const shown = renderNetworkStatus(status);
    expect(shown).toMatch(/^success_rate: +100%$/m);
    // The workers stopped, so they marked their agents offline.
    expect(shown).toMatch(new RegExp(`^w1 +no +0 +${summaries[0]!.completed} +0 +0 +0% +[\\d.]+ s$`, 'm'));

    const optimized = await runNetworkOptimize({ id: net.id, objective: 'speed' }, alice);
    expect(optimized).toMatchObject({ network_id: net.id, optimization_type: 'speed' });
    expect(optimized.performance_metrics.sample.attempts).toBe(8);
    expect(renderOptimization(optimized)).toMatch(/^objective: +speed$/m);
  });

  it('execute run again with the same --idempotency-key answers with the first execution, not a second', async () => {
    const net = await runNetworkCreate({ name: 'again', agents: ['w1'] }, alice);
    const run = () =>
      runNetworkExecute(
        { id: net.id, task: '-', idempotencyKey: `nightly-${kind}` },
        { ...alice, cwd: dir, readStdin: async () => '{"items":[1,2]}' },
      );
    const first = await run();
    expect((await run()).id).toBe(first.id);
    const listed = await alice.client.execution.list.query({ network_id: net.id });
    expect(listed.executions.map((e) => e.id)).toEqual([first.id]);
  });

  it('status --watch redraws the screen on a terminal until stopped', async () => {
    const net = await runNetworkCreate({ name: 'watched', agents: ['w1'] }, alice);
    const frames: string[] = [];
    const stop = new AbortController();
    const shown = await watchNetworkStatus(
      { id: net.id },
      {
        ...alice,
        format: renderNetworkStatus,
        write: (text) => {
          frames.push(text);
          if (frames.length === 3) stop.abort();
        },
        tty: true,
        intervalMs: 10,
        signal: stop.signal,
      },
    );
    expect(shown).toBe(3);
    for (const frame of frames) {
      expect(frame.startsWith(CLEAR_SCREEN)).toBe(true);
      expect(frame).toMatch(/^name: +watched$/m);
    }
  });

  it('a worker for an agent that is not yours stops with the server’s refusal', async () => {
    const bob = { client: createClient({ url: srv.url, apiKey: await srv.keyFor('bob') }) };
    await expect(runAgentWork({ agent: 'w1', exec: 'true' }, { ...bob, log: () => {}, stop: never, abandon: never })).rejects.toThrow(
      CliError,
    );
    // The worker itself, given alice's agent id: the server refuses its claim, and it stops with that.
    await expect(createWorker({ client: bob.client, agent: ids.w1!, handler: () => null }).run()).rejects.toThrow(/Agent .* not found/);
  });

  it('--max-subtasks stops after that many, even with several slots', async () => {
    const net = await runNetworkCreate({ name: 'bounded', agents: ['w3'] }, alice);
    await runNetworkExecute({ id: net.id, task: '-' }, { ...alice, cwd: dir, readStdin: async () => '{"subtasks":[1,2,3,4,5]}' });
    const log: string[] = [];
    const summary = await runAgentWork(
      { agent: 'w3', exec: 'cat', concurrency: 3, maxSubtasks: 2, pollInterval: 0.05 },
      { ...alice, log: (l) => log.push(l), stop: never, abandon: never },
    );
    expect(summary).toEqual({ agent_id: ids.w3, claimed: 2, completed: 2, failed: 0, lost: 0 });
    expect(log.filter((l) => l.endsWith(': claimed'))).toHaveLength(2);
  });
});

describe('what a worker makes of its command', () => {
  const base = { code: 0, signal: null, stdout: '', stderrTail: '', tooLarge: false };

  it('posts stdout as JSON, null included', () => {
    expect(interpretOutcome({ ...base, stdout: ' {"b":1,"a":[2]}\n' })).toEqual({ result: { b: 1, a: [2] } });
    expect(interpretOutcome({ ...base, stdout: 'null\n' })).toEqual({ result: null });
  });

  it('reports a failure, with stderr’s tail, for a non-zero exit, a signal, no output or output that is not JSON', () => {
    expect(interpretOutcome({ ...base, code: 2, stderrTail: 'boom' })).toEqual({ error: 'the command exited with status 2: boom' });
    expect(interpretOutcome({ ...base, code: null, signal: 'SIGKILL' })).toEqual({ error: 'the command was killed by SIGKILL' });
    expect(interpretOutcome(base)).toEqual({ error: expect.stringMatching(/printed nothing on stdout/) });
    expect(interpretOutcome({ ...base, stdout: 'done!' })).toEqual({ error: expect.stringMatching(/stdout is not JSON .*: done!$/) });
  });
});

// A worker process's life around its work, with real `aitbc agent work` and
// `aitbc swarm work` processes: started before the server listens (it waits
// for it), its running command killed when the work is cancelled, what it
// says at each Ctrl-C, stopping while the server does not answer (it exits
// once the lease ran out, and a third signal exits at once), and marking its
// agent offline with a worker key, so the agent's waiting work moves on.
import type { ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type AitbcClient, createClient } from '@aitbc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy } from '../../../packages/client/test/support/proxy.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../../server/test/support/databases.ts';
import { type ListeningServer, spawnServer } from '../../server/test/support/server-process.ts';
import { startTestServer, type TestServer } from '../../server/test/support/server.ts';
import { closedPort, spawnAitbc, tempHome, until } from './support/aitbc.ts';

/** A command that records its pid under $PIDS (one file per subtask) and hangs: only a kill ends it early. */
const HANG = 'echo $$ > "$PIDS/$AITBC_SUBTASK_ID"; exec sleep 30';

interface WorkerProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.each(databaseKinds)('a worker’s life around its work on %s', (kind) => {
  let srv: TestServer;
  let key: string;
  let api: AitbcClient;
  const home = tempHome();
  const pids = mkdtempSync(join(tmpdir(), 'aitbc-pids-'));
  const workers: WorkerProcess[] = [];

  function startWorker(args: string[], env: Record<string, string> = {}): WorkerProcess {
    const child = spawnAitbc(args, { home: home.home, env: { AITBC_URL: srv.url, AITBC_API_KEY: key, PIDS: pids, ...env } });
    const w: WorkerProcess = {
      child,
      stdout: '',
      stderr: '',
      exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)))),
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (w.stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (w.stderr += d));
    workers.push(w);
    return w;
  }

  /** Pid files already taken by a test. */
  const taken = new Set<string>();
  /** The pid of the command running `subtask` (or a subtask no test took yet), once it started. */
  const commandPid = (subtask?: string) =>
    until('the command to start', () => {
      const file = subtask ?? readdirSync(pids).find((f) => !taken.has(f));
      let text = '';
      try {
        text = file ? readFileSync(join(pids, file), 'utf8').trim() : '';
      } catch {
        // not written yet
      }
      if (!text) return undefined;
      taken.add(file!);
      return Number(text);
    });

  /** Resolves with the exit code, or 'running' if the process is still there after `ms`. */
  const exitWithin = (w: WorkerProcess, ms: number) =>
    Promise.race([w.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), ms))]);

  beforeAll(async () => {
    srv = await startTestServer(kind);
    key = await srv.keyFor('alice');
    api = createClient({ url: srv.url, apiKey: key });
  });

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    for (const f of readdirSync(pids)) {
      const pid = Number(readFileSync(join(pids, f), 'utf8'));
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
    await srv?.close();
    home.remove();
    rmSync(pids, { recursive: true, force: true });
  });

  it('cancelling an execution kills the command running its subtask at the next heartbeat, and reports no failure', async () => {
    const agent = await api.agent.register.mutate({ name: 'cancelled-agent' });
    const network = await api.network.create.mutate({ name: 'cancelled', agents: [agent.id], lease_seconds: 3 });
    const e = await api.execution.execute.mutate({ network_id: network.id, task: { subtasks: ['hang'] } });
    const w = startWorker(['agent', 'work', '--agent', agent.id, '--exec', HANG]);
    const pid = await commandPid(e.subtasks[0]!.id);
    expect(alive(pid)).toBe(true);
    await api.execution.cancel.mutate({ network_id: network.id, execution_id: e.id });
    // A beat a third of the 3 s lease: the command is gone within a few seconds, not its 30.
    await until('the command to be killed', () => (alive(pid) ? undefined : true), 10_000);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(w.stdout).toMatch(/^completed: +0\nfailed: +0\nlost: +1\n$/m);
    expect(w.stderr).toMatch(/: cancelled \(.*cancelled.*\); stopping its work/);
    expect(w.stderr).not.toMatch(/failed in|did not take|refused/);
  });

  it('cancelling a swarm task kills the command running its member’s subtask', async () => {
    const member = await api.swarm.join.mutate({ role: 'monitor', capability: `cancel-${kind}` });
    const w = startWorker(['swarm', 'work', '--member', member.member_id, '--exec', HANG]);
    const task = await api.swarm.coordinate.mutate({
      strategy: 'broadcast',
      parameters: { capability: `cancel-${kind}`, collaborators: 1, payload: { q: 1 }, lease_seconds: 3 },
    });
    const pid = await commandPid();
    await api.swarm.cancel.mutate({ task_id: task.task_id });
    await until('the command to be killed', () => (alive(pid) ? undefined : true), 10_000);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(w.stdout).toMatch(/^lost: +1\n$/m);
    expect(w.stderr).toMatch(/: cancelled \(.*\); stopping its work/);
  });

  it('started before the server listens, agent work and swarm work wait for it, say so, then do the work', async () => {
    // A server of its own on a fixed port: set up, stopped, the workers started, then the server again on the same database.
    const database: TestDatabase = await createTestDatabase(kind);
    const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-late-'));
    const port = await closedPort();
    const admin = `late-admin-${Date.now()}-0123456789`;
    const serve = () =>
      spawnServer({
        PORT: String(port),
        DATABASE_URL: database.target.url,
        AITBC_DATA_DIR: dataDir,
        AITBC_ADMIN_API_KEYS: admin,
        LOG_LEVEL: 'warn',
        AITBC_SWEEP_INTERVAL_MS: '200',
      });
    let server: (ListeningServer & { pid: number }) | undefined = await serve();
    try {
      const adminApi = createClient({ url: server.url, apiKey: admin });
      const ownerKey = (await adminApi.key.create.mutate({ owner_id: 'late' })).key;
      const late = createClient({ url: server.url, apiKey: ownerKey });
      const agent = await late.agent.register.mutate({ name: 'late-agent' });
      const network = await late.network.create.mutate({ name: 'late', agents: [agent.id] });
      const member = await late.swarm.join.mutate({
        role: 'monitor',
        capability: 'late',
        suspect_after_seconds: 600,
        fail_after_seconds: 1200,
      });
      const url = server.url;
      expect(await server.stop()).toBe(0);
      server = undefined;

      const env = { AITBC_URL: url, AITBC_API_KEY: ownerKey };
      const agentWorker = startWorker(['agent', 'work', '--agent', 'late-agent', '--exec', 'echo 7', '--poll-interval', '0.5'], env);
      const memberWorker = startWorker(['swarm', 'work', '--member', member.member_id, '--exec', 'echo 8', '--poll-interval', '0.5'], env);
      await until('both to say the server cannot be reached', () =>
        [agentWorker, memberWorker].every((w) => /cannot reach the server \(.*\); retrying/.test(w.stderr)) ? true : undefined,
      );
      // Still running, a few seconds on.
      await new Promise((r) => setTimeout(r, 3000));
      expect([agentWorker.child.exitCode, memberWorker.child.exitCode]).toEqual([null, null]);

      server = await serve();
      const e = await late.execution.execute.mutate({ network_id: network.id, task: { subtasks: [1] } });
      const task = await late.swarm.coordinate.mutate({
        strategy: 'broadcast',
        parameters: { capability: 'late', collaborators: 1, payload: { q: 1 } },
      });
      const done = await until(
        'the work to be done',
        async () => {
          const [view, status] = await Promise.all([
            late.execution.get.query({ network_id: network.id, execution_id: e.id }),
            late.swarm.task.query({ task_id: task.task_id }),
          ]);
          return view.status === 'completed' && status.status === 'completed' ? { view, status } : undefined;
        },
        30_000,
      );
      expect(done.view.results?.subtask_results).toEqual([7]);
      expect(done.status.result).toEqual(8);
      for (const w of [agentWorker, memberWorker]) {
        expect(w.stderr).toMatch(/the server answers again/);
        w.child.kill('SIGTERM');
        expect(await w.exited).toBe(0);
        expect(w.stdout).toMatch(/^completed: +1$/m);
      }
    } finally {
      await server?.stop();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('says at the first Ctrl-C what it finishes; told twice with the server silent, it exits once the lease ran out', async () => {
    const agent = await api.agent.register.mutate({ name: 'silent-agent' });
    const network = await api.network.create.mutate({ name: 'silent', agents: [agent.id], lease_seconds: 3 });
    const e = await api.execution.execute.mutate({ network_id: network.id, task: { subtasks: ['hang'] } });
    const proxy = await startProxy(srv.url);
    try {
      const w = startWorker(['agent', 'work', '--agent', agent.id, '--exec', HANG], { AITBC_URL: proxy.url });
      const pid = await commandPid(e.subtasks[0]!.id);
      w.child.kill('SIGINT');
      await until('the first Ctrl-C to be answered', () =>
        /finishing 1 running subtask; Ctrl-C again to abandon it\n/.test(w.stderr) ? true : undefined,
      );
      // A server that takes connections and never answers (a paused process, a network dropping packets).
      proxy.silence();
      w.child.kill('SIGINT');
      await until('the command to be killed', () => (alive(pid) ? undefined : true), 5000);
      // The lease (3 s, no longer extended) ends; then there is nothing left to post.
      expect(await exitWithin(w, 20_000)).toBe(0);
      expect(w.stderr).toMatch(/abandoning 1 running subtask/);
      expect(w.stderr).toMatch(/: the lease ended before the server could be reached; the server will hand it out again\n/);
      expect(w.stdout).toMatch(/^lost: +1$/m);
    } finally {
      await proxy.close();
    }
  });

  it('a third Ctrl-C exits at once, naming what it abandons', async () => {
    const agent = await api.agent.register.mutate({ name: 'forced-agent' });
    // A long lease: without a third signal it would go on trying to post the failure for a minute.
    const network = await api.network.create.mutate({ name: 'forced', agents: [agent.id], lease_seconds: 60 });
    const e = await api.execution.execute.mutate({ network_id: network.id, task: { subtasks: ['hang'] } });
    const proxy = await startProxy(srv.url);
    try {
      const w = startWorker(['agent', 'work', '--agent', agent.id, '--exec', HANG], { AITBC_URL: proxy.url });
      await commandPid(e.subtasks[0]!.id);
      proxy.silence();
      // One at a time: signals sent together may arrive as one.
      w.child.kill('SIGINT');
      await until('the stop to be said', () => (/finishing 1 running subtask/.test(w.stderr) ? true : undefined));
      w.child.kill('SIGINT');
      await until('the abandon to be said', () => (/abandoning 1 running subtask/.test(w.stderr) ? true : undefined));
      expect(await exitWithin(w, 2000)).toBe('running');
      w.child.kill('SIGINT');
      expect(await exitWithin(w, 5000)).toBe(130);
      expect(w.stderr).toContain(`subtask ${e.subtasks[0]!.id} (execution ${e.id}, seq 0, attempt 1): abandoned`);
    } finally {
      await proxy.close();
    }
  });

  it('with a worker key, a stopped worker marks its agent offline, and the agent’s waiting work moves to another agent at once', async () => {
    const [first, second] = [
      await api.agent.register.mutate({ name: 'stopping-agent' }),
      await api.agent.register.mutate({ name: 'steady-agent' }),
    ];
    // An hour's claim timeout and no stealing: only the offline mark can move the first agent's waiting subtask on.
    const network = await api.network.create.mutate({
      name: 'handover',
      agents: [first.id, second.id],
      claim_timeout_seconds: 3600,
      work_stealing: false,
      speculation: false,
    });
    const workerKey = await srv.keyFor('alice', { scope: 'worker', agents: [first.id] });
    const stopping = startWorker(['agent', 'work', '--agent', 'stopping-agent', '--exec', 'sleep 2; echo 1', '--poll-interval', '0.5'], {
      AITBC_API_KEY: workerKey,
    });
    const steady = startWorker(['agent', 'work', '--agent', 'steady-agent', '--exec', 'echo 2', '--poll-interval', '0.5']);
    await until('both agents online', async () => {
      const { agents } = await api.agent.list.query({});
      return [first.id, second.id].every((id) => agents.find((a) => a.id === id)?.status === 'online') ? true : undefined;
    });
    // Round-robin from the first agent: seq 0 and 2 to stopping-agent, 1 and 3 to steady-agent.
    const e = await api.execution.execute.mutate({ network_id: network.id, task: { subtasks: [0, 1, 2, 3] } });
    expect(e.subtasks.map((s) => s.assignee_id)).toEqual([first.id, second.id, first.id, second.id]);
    await until('stopping-agent to start its first subtask', () => (/: claimed\n/.test(stopping.stderr) ? true : undefined));
    stopping.child.kill('SIGTERM');
    expect(await exitWithin(stopping, 20_000)).toBe(0);
    expect(stopping.stderr).toMatch(/finishing 1 running subtask/);
    expect(stopping.stderr).toMatch(/agent stopping-agent: stopped; marked offline, so its waiting subtasks move to other agents/);
    const done = await until(
      'the execution to complete',
      async () => {
        const view = await api.execution.get.query({ network_id: network.id, execution_id: e.id });
        return view.status === 'completed' ? view : undefined;
      },
      20_000,
    );
    expect(done.results?.subtask_results).toEqual([1, 2, 2, 2]);
    expect(done.subtasks.map((s) => s.assignee_id)).toEqual([first.id, second.id, second.id, second.id]);
    const { agents } = await api.agent.list.query({});
    expect(agents.find((a) => a.id === first.id)?.status).toBe('offline');

    // Idle when told to stop: it says it is stopping.
    steady.child.kill('SIGTERM');
    expect(await steady.exited).toBe(0);
    expect(steady.stderr).toMatch(/stopping: no subtask is running/);
  });
});

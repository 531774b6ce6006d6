// Crash durability: the real server binary on a fixed port, real `aitbc
// agent work` and `aitbc swarm work` processes doing network executions, a
// map-reduce task and a consensus vote, and the server killed with SIGKILL
// twice mid-flight and restarted on the same database and port. The workers
// ride it out (retrying with backoff, not crashing); every accepted execution
// completes with every subtask's result recorded exactly once; the consensus
// is decided once; and the database invariants hold.
import type { ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { REPUTATION, updateReputation } from '@aitbc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { Database } from '../../server/src/db/database.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../../server/test/support/databases.ts';
import { checkInvariants } from '../../server/test/support/db-state.ts';
import { restClient } from '../../server/test/support/http.ts';
import { type ListeningServer, spawnServer } from '../../server/test/support/server-process.ts';
import { closedPort, spawnAitbc, tempHome } from './support/aitbc.ts';

const ITEMS = Array.from({ length: 15 }, (_, i) => i + 1);
const EXECUTIONS = 4;
const CRASHES = 2;

/** The workers' command: a little slow, so that work is in flight when the server dies. */
const WORKER_SCRIPT = `
import { appendFileSync } from 'node:fs';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const payload = JSON.parse(input);
await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 150)));
const id = process.env.AITBC_EXECUTION_ID ?? process.env.AITBC_TASK_ID;
appendFileSync(process.env.WORK_LOG, id + ' ' + process.env.AITBC_SEQ + ' ' + process.env.AITBC_ATTEMPT + '\\n');
const result = Array.isArray(payload?.items) ? payload.items.reduce((s, x) => s + 2 * x, 0) : { answer: 42 };
process.stdout.write(JSON.stringify(result) + '\\n');
`;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Worker {
  name: string;
  child: ChildProcessByStdio<null, Readable, Readable>;
  stderr: string;
}

describe.each(databaseKinds)('kill -9 mid-flight on %s', (kind) => {
  const home = tempHome();
  const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-crash-'));
  const workers: Worker[] = [];
  let database: TestDatabase | undefined;
  let server: (ListeningServer & { pid: number }) | undefined;

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await server?.stop('SIGKILL');
    await database?.drop();
    home.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`loses no accepted work across ${CRASHES} crashes and restarts`, { timeout: 180_000 }, async () => {
    database = await createTestDatabase(kind);
    const databaseUrl = kind === 'sqlite' ? `file:${join(dataDir, 'crash.db')}` : database.target.url;
    const port = await closedPort();
    const admin = `crash-admin-${Date.now()}-0123456789`;
    // Rate limits stay on (the default): each worker has a key of its own.
    const start = () =>
      spawnServer({
        PORT: String(port),
        DATABASE_URL: databaseUrl,
        AITBC_DATA_DIR: dataDir,
        AITBC_ADMIN_API_KEYS: admin,
        LOG_LEVEL: 'warn',
        AITBC_SWEEP_INTERVAL_MS: '200',
      });
    server = await start();
    const url = server.url;
    const adminCall = restClient(url, admin);
    const keyFor = async () => (await adminCall('POST', '/api/v1/keys', { owner_id: 'crash' })).body.key as string;
    const call = restClient(url, await keyFor());

    const script = join(home.home, 'worker.mjs');
    writeFileSync(script, WORKER_SCRIPT);
    const log = join(home.home, 'work.log');
    writeFileSync(log, '');
    const startWorker = async (name: string, args: string[]) => {
      const child = spawnAitbc([...args, '--exec', `"${process.execPath}" "${script}"`, '--poll-interval', '0.2'], {
        home: home.home,
        env: { AITBC_URL: url, AITBC_API_KEY: await keyFor(), WORK_LOG: log },
      });
      const worker: Worker = { name, child, stderr: '' };
      child.stderr.setEncoding('utf8').on('data', (d: string) => (worker.stderr += d));
      child.stdout.resume();
      workers.push(worker);
    };

    // Three agents in a network, three swarm members; a worker for each.
    const agents: string[] = [];
    for (let i = 1; i <= 3; i++) agents.push((await call('POST', '/api/v1/agents', { name: `w${i}` })).body.id);
    const network = (await call('POST', '/api/v1/agents/networks', { name: 'crash', agents, lease_seconds: 5 })).body.id;
    const members: string[] = [];
    let swarmId = '';
    for (let i = 0; i < 3; i++) {
      const m = (
        await call('POST', '/swarm/join', { role: 'monitor', capability: 'crash', suspect_after_seconds: 60, fail_after_seconds: 120 })
      ).body;
      members.push(m.member_id);
      swarmId = m.swarm_id;
    }
    for (const [i, agent] of agents.entries()) await startWorker(`agent-${i}`, ['agent', 'work', '--agent', agent, '--concurrency', '2']);
    for (const [i, member] of members.entries()) await startWorker(`member-${i}`, ['swarm', 'work', '--member', member]);

    // The work: executions, a map-reduce task and a consensus vote, all accepted before the first crash.
    const executions: string[] = [];
    for (let i = 0; i < EXECUTIONS; i++) {
      const r = await call('POST', `/api/v1/agents/networks/${network}/execute`, { task: { items: ITEMS, chunk_size: 1, reduce: 'sum' } });
      expect(r.status).toBe(202);
      executions.push(r.body.id);
    }
    const mapReduce = await call('POST', '/swarm/coordinate', {
      swarm_id: swarmId,
      strategy: 'map-reduce',
      collaborators: 3,
      parameters: { capability: 'crash', items: ITEMS.slice(0, 12), chunk_size: 1, reduce: 'sum', lease_seconds: 5 },
    });
    expect(mapReduce.status, JSON.stringify(mapReduce.body)).toBe(202);
    const vote = await call('POST', '/swarm/coordinate', {
      swarm_id: swarmId,
      strategy: 'consensus',
      collaborators: 3,
      parameters: { capability: 'crash', payload: { question: 'the answer' }, lease_seconds: 5 },
    });
    expect(vote.status, JSON.stringify(vote.body)).toBe(202);
    const total = EXECUTIONS * ITEMS.length;

    /** Subtasks done, and those held under a lease right now (work in flight). */
    const progress = async () => {
      let done = 0;
      let leased = 0;
      for (const id of executions) {
        const e = (await call('GET', `/api/v1/agents/networks/${network}/executions/${id}`)).body;
        done += e.progress.completed;
        leased += e.subtasks.filter((s: { status: string }) => s.status === 'leased').length;
      }
      return { done, leased };
    };
    const completedSubtasks = async () => (await progress()).done;
    let inFlightAtCrashes = 0;

    // Crash while work is in flight: after some subtasks are done, before most are.
    for (let crash = 1; crash <= CRASHES; crash++) {
      const threshold = Math.floor((total * crash) / (CRASHES + 2));
      const now = await until(`${threshold} subtasks done, some in flight`, async () => {
        const p = await progress();
        return p.done >= threshold && p.leased > 0 ? p : undefined;
      });
      inFlightAtCrashes += now.leased;
      process.kill(server.pid, 'SIGKILL');
      await server.stop();
      await new Promise((r) => setTimeout(r, 1500));
      server = await start();
      expect(server.url).toBe(url);
    }

    // Everything accepted finishes.
    // Decided first; an execution whose last follow-up a crash cut is finished by the sweep's backstop a moment later.
    await until('every execution to complete', async () => ((await completedSubtasks()) === total ? true : undefined), 90_000);
    await until('every execution to be marked completed', async () => {
      for (const id of executions)
        if ((await call('GET', `/api/v1/agents/networks/${network}/executions/${id}`)).body.status !== 'completed') return undefined;
      return true;
    });
    for (const id of executions) {
      const e = (await call('GET', `/api/v1/agents/networks/${network}/executions/${id}`)).body;
      expect(e.status).toBe('completed');
      expect(e.results).toMatchObject({ reduced: ITEMS.reduce((s, x) => s + 2 * x, 0), subtask_results: ITEMS.map((x) => 2 * x) });
      expect(e.subtasks.filter((s: { accepted: boolean }) => s.accepted).map((s: { seq: number }) => s.seq)).toEqual(
        ITEMS.map((_, i) => i),
      );
    }
    const mr = await until('the map-reduce task', async () => {
      const t = (await call('GET', `/swarm/tasks/${mapReduce.body.task_id}/status`)).body;
      return t.status === 'completed' ? t : undefined;
    });
    expect(mr.result).toMatchObject({ reduced: ITEMS.slice(0, 12).reduce((s, x) => s + 2 * x, 0) });
    const consensus = await until('the consensus', async () => {
      const t = (await call('GET', `/swarm/tasks/${vote.body.task_id}/status`)).body;
      return t.status === 'completed' ? t : undefined;
    });
    expect(consensus.consensus).toMatchObject({ consensus_reached: true, status: 'reached', result: { final_answer: { answer: 42 } } });
    expect([...consensus.consensus.participating_members].sort()).toEqual([...members].sort());

    // The workers rode out both crashes: still running, having said they retried.
    for (const w of workers) {
      expect(w.child.exitCode, `${w.name} exited: ${w.stderr.slice(-2000)}`).toBeNull();
      expect(w.child.signalCode).toBeNull();
    }
    expect(inFlightAtCrashes).toBeGreaterThan(0);
    expect(workers.filter((w) => /cannot reach the server/.test(w.stderr)).length).toBeGreaterThan(0);
    expect(workers.filter((w) => /answers again/.test(w.stderr)).length).toBeGreaterThan(0);

    // Stop everything and read the database itself.
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => (w.child.exitCode === null ? new Promise((r) => w.child.once('exit', r)) : null)));
    await server.stop();
    server = undefined;
    const db = await Database.connect(
      kind === 'sqlite' ? { provider: 'sqlite', file: databaseUrl.slice(5), url: databaseUrl } : database.target,
    );
    try {
      expect(await checkInvariants(db)).toEqual([]);
      const stored = await db.run((tx) => tx.agentNetworkExecution.findMany({ where: { networkId: network } }));
      expect(stored.map((e) => e.id).sort()).toEqual([...executions].sort());
      // Recorded exactly once: one completed attempt per subtask, one vote per member, one decision.
      const subtasks = await db.run((tx) => tx.subtask.findMany({ where: { ownerId: 'crash' } }));
      const completedAttempts = await db.run((tx) =>
        tx.subtaskAttempt.groupBy({ by: ['subtaskId'], where: { outcome: 'completed' }, _count: { _all: true } }),
      );
      const completed = subtasks.filter((s) => s.status === 'completed');
      expect(completedAttempts.filter((a) => a._count._all !== 1)).toEqual([]);
      expect(completed.length).toBe(total + 12 + 3);
      const task = await db.run((tx) =>
        tx.swarmCoordination.findFirstOrThrow({ where: { taskId: vote.body.task_id }, include: { votes: true } }),
      );
      expect(task.votes.map((v) => v.memberId).sort()).toEqual([...members].sort());
      expect(task.decidedCount).toBe(1);
      expect(task.consensusReachedAt).not.toBeNull();
      // Decided once: each voter's reputation moved exactly one step from the start.
      const reputations = await db.run((tx) =>
        tx.swarmMember.findMany({ where: { memberId: { in: members } }, select: { reputation: true } }),
      );
      for (const r of reputations) expect(r.reputation).toBeCloseTo(updateReputation(REPUTATION.initial, true), 10);
      // What the workers logged: every subtask ran at least once (re-runs are the leases the crashes cut).
      const runs = readFileSync(log, 'utf8').trim().split('\n');
      const reruns = subtasks.filter((s) => s.attempts > 1).length;
      const lost = subtasks.filter((s) => s.status !== 'completed' && s.status !== 'cancelled').length;
      expect(lost).toBe(0);
      console.log(
        `[crash ${kind}] ${CRASHES} kill -9 crashes with ${inFlightAtCrashes} leases in flight; ${completed.length} subtasks completed, each result recorded once; ${lost} lost; ${reruns} re-leased after a cut lease; ${runs.length} command runs; consensus decided once`,
      );
    } finally {
      await db.close();
    }
  });
});

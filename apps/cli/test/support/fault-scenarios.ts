// The fault suite's harness (apps/cli/test/faults.test.ts): a scenario's
// world on the private cluster (its database, one or two server processes,
// agents, members, the SDK's and the CLI's workers), the scenario itself
// (both tasks in flight, the fault, recovery, the checks) and the row it adds
// to the table.
import type { ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createWorker, type Worker as SdkWorker } from '@aitbc/client';
import pg from 'pg';
import { expect } from 'vitest';
import { Database } from '../../../server/src/db/database.ts';
import { checkInvariants } from '../../../server/test/support/db-state.ts';
import { restClient } from '../../../server/test/support/http.ts';
import type { PrivateCluster } from '../../../server/test/support/postgres-cluster.ts';
import { type ListeningServer, spawnServer } from '../../../server/test/support/server-process.ts';
import { spawnAitbc } from './aitbc.ts';
import { type Balancer, startBalancer } from './balancer.ts';

/** Short leases, so faults that outlast one are part of every run. */
export const LEASE = 3;
export const ITEMS = Array.from({ length: 60 }, (_, i) => i + 1);
export const REDUCED = ITEMS.reduce((s, x) => s + 2 * x, 0);
const VOTE_MS = 1500;

/** `aitbc agent work`'s command: doubles and sums its items, a little slowly, so work is in flight when faults strike. */
const WORKER_SCRIPT = `
let input = '';
for await (const chunk of process.stdin) input += chunk;
const payload = JSON.parse(input);
await new Promise((r) => setTimeout(r, 120 + Math.floor(Math.random() * 120)));
process.stdout.write(JSON.stringify(payload.items.reduce((s, x) => s + 2 * x, 0)) + '\\n');
`;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A server process ended mid-scenario: no point waiting for it. */
export class ServerExited extends Error {
  constructor(output: string) {
    super(`a server process exited:\n${output.slice(-3000)}`);
  }
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch((error: unknown) => {
      if (error instanceof ServerExited) throw error;
      return undefined;
    });
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Whether a process is still running (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface FaultRow {
  scenario: string;
  /** Subtasks of the execution and the vote not completed at the end, and votes missing. */
  lost: number;
  /** Subtasks with more than one completed attempt, members with more than one vote, executions counted past their size. */
  counted_twice: number;
  /** From the end of the fault to the first subtask completed after it (null: nothing was left to complete). */
  recovery_s: number | null;
  /** The issue's bound for this fault, if it sets one. */
  target_s: number | null;
  /** Server processes that ended without being told to. */
  server_exits: number;
  /** How long the fault lasted. */
  fault_s: number;
  /** Outage lines the servers logged: one when the database went and one when it came back, per instance (0 when no outage was declared). */
  outage_log_lines: number;
  notes: string;
}
/** A fault, once over: when it ended (performance.now()), how long it lasted, notes, and checks of its own (see scenario). */
export interface Fault {
  endedAt: number;
  seconds: number;
  notes?: string;
  afterwards?: () => Promise<string | undefined>;
}

/** One server process, and whether the test killed it on purpose. */
export interface Instance {
  server: ListeningServer & { pid: number };
  killed: boolean;
}

/** A scenario's world: its database, servers, agents, members and workers. */
export interface Stage {
  database: string;
  url: string;
  instances: Instance[];
  balancer: Balancer | null;
  /** Where the workers and the API calls go (the balancer, or the only instance). */
  entry: string;
  adminKey: string;
  ownerKey: string;
  call: ReturnType<typeof restClient>;
  agents: { sdk: string; cli: string };
  network: string;
  members: string[];
  swarmId: string;
  sdkWorkers: SdkWorker[];
  sdkRuns: Promise<unknown>[];
  sdkErrors: unknown[];
  sdkLog: string[];
  cli: ChildProcessByStdio<null, Readable, Readable>;
  cliLog: () => string;
  dataDirs: string[];
}

/** Scenarios on `cluster`, with workers' files in `home`; `rows` is the table so far. */
export function faultScenarios(cluster: PrivateCluster, home: string) {
  const script = join(home, 'worker.mjs');
  writeFileSync(script, WORKER_SCRIPT);
  let databases = 0;
  const rows: FaultRow[] = [];

  /** A statement on the scenario's database, on a fresh connection of the test's own (faults spare it). */
  async function monitor<T = Record<string, unknown>>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: url, application_name: 'aitbc-test-monitor', connectionTimeoutMillis: 3000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query(text, values)).rows as T[];
    } finally {
      void client.end().catch(() => undefined);
    }
  }

  async function stage(instanceCount: 1 | 2): Promise<Stage> {
    const database = `faults_${++databases}`;
    const url = await cluster.createDatabase(database);
    const admin = `faults-admin-${Date.now()}-0123456789`;
    const dataDirs: string[] = [];
    const start = () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-faults-'));
      dataDirs.push(dataDir);
      return spawnServer({
        DATABASE_URL: url,
        AITBC_DATA_DIR: dataDir,
        AITBC_ADMIN_API_KEYS: admin,
        LOG_LEVEL: 'warn',
        AITBC_SWEEP_INTERVAL_MS: '200',
        AITBC_HEARTBEAT_FLUSH_MS: '200',
        AITBC_RATE_LIMIT: 'off',
      });
    };
    // The first migrates the database; a second starts on it migrated.
    const instances: Instance[] = [{ server: await start(), killed: false }];
    if (instanceCount === 2) instances.push({ server: await start(), killed: false });
    const balancer = instanceCount === 2 ? await startBalancer(instances.map((i) => i.server.url)) : null;
    const entry = balancer?.url ?? instances[0]!.server.url;
    const ownerKey = (await restClient(instances[0]!.server.url, admin)('POST', '/api/v1/keys', { owner_id: 'faults' })).body.key as string;
    const call = restClient(entry, ownerKey);
    const sdkAgent = (await call('POST', '/api/v1/agents', { name: 'sdk' })).body.id as string;
    const cliAgent = (await call('POST', '/api/v1/agents', { name: 'cli' })).body.id as string;
    const network = (await call('POST', '/api/v1/agents/networks', { name: 'faults', agents: [sdkAgent, cliAgent], lease_seconds: LEASE }))
      .body.id as string;
    const members: string[] = [];
    let swarmId = '';
    for (let i = 0; i < 3; i++) {
      const joined = (
        await call('POST', '/swarm/join', { role: 'monitor', capability: 'faults', suspect_after_seconds: 60, fail_after_seconds: 120 })
      ).body;
      members.push(joined.member_id);
      swarmId = joined.swarm_id;
    }

    const sdkLog: string[] = [];
    const sdkErrors: unknown[] = [];
    const sdkWorkers = [
      createWorker({
        url: entry,
        apiKey: ownerKey,
        agent: sdkAgent,
        concurrency: 2,
        handler: async (payload) => {
          await sleep(120 + Math.floor(Math.random() * 120));
          return (payload as { items: number[] }).items.reduce((s, x) => s + 2 * x, 0);
        },
        log: (line) => void sdkLog.push(`agent: ${line}`),
      }),
      ...members.map((member, i) =>
        createWorker({
          url: entry,
          apiKey: ownerKey,
          member,
          handler: async () => {
            await sleep(VOTE_MS);
            return { answer: 42 };
          },
          log: (line) => void sdkLog.push(`member ${i}: ${line}`),
        }),
      ),
    ];
    const sdkRuns = sdkWorkers.map((w) => w.run().catch((error: unknown) => void sdkErrors.push(error)));
    const cli = spawnAitbc(
      ['agent', 'work', '--agent', cliAgent, '--exec', `"${process.execPath}" "${script}"`, '--concurrency', '2', '--poll-interval', '5'],
      { home, env: { AITBC_URL: entry, AITBC_API_KEY: ownerKey } },
    );
    let cliStderr = '';
    cli.stderr.setEncoding('utf8').on('data', (d: string) => (cliStderr += d));
    cli.stdout.resume();
    return {
      database,
      url,
      instances,
      balancer,
      entry,
      adminKey: admin,
      ownerKey,
      call,
      agents: { sdk: sdkAgent, cli: cliAgent },
      network,
      members,
      swarmId,
      sdkWorkers,
      sdkRuns,
      sdkErrors,
      sdkLog,
      cli,
      cliLog: () => cliStderr,
      dataDirs,
    };
  }

  /** The subtasks of the execution and the vote, as stored. */
  const progress = async (s: Stage, execution: string, task: string) =>
    (
      await monitor<{ done: number; leased: number; votes_leased: number }>(
        s.url,
        `SELECT count(*) FILTER (WHERE "execution_id" = $1 AND "status" = 'completed')::int AS "done",
                count(*) FILTER (WHERE "execution_id" = $1 AND "status" = 'leased')::int AS "leased",
                count(*) FILTER (WHERE "coordination_id" = (SELECT "id" FROM "swarm_coordination" WHERE "task_id" = $2) AND "status" = 'leased')::int AS "votes_leased"
           FROM "subtasks"`,
        [execution, task],
      )
    )[0]!;

  const completedAttempts = async (s: Stage) =>
    (await monitor<{ n: number }>(s.url, `SELECT count(*)::int AS "n" FROM "subtask_attempts" WHERE "outcome" = 'completed'`))[0]!.n;

  /** A live instance's URL (not one the scenario killed). */
  const live = (s: Stage) => s.instances.find((i) => !i.killed)!.server.url;

  /** `until`, failing at once with its output if a server the scenario did not kill has exited. */
  const whileUp = <T>(s: Stage, what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs: number, everyMs = 100) =>
    until(
      what,
      async () => {
        const dead = s.instances.find((i) => !i.killed && !alive(i.server.pid));
        if (dead) throw new ServerExited(dead.server.output());
        return probe();
      },
      timeoutMs,
      everyMs,
    );

  /** Subtasks not yet completed. */
  const open = async (s: Stage) =>
    (await monitor<{ n: number }>(s.url, `SELECT count(*)::int AS "n" FROM "subtasks" WHERE "status" <> 'completed'`))[0]!.n;

  /**
   * Seconds from `endedAt` (performance.now()) to the first subtask completed after it; null when nothing was
   * left to complete (everything finished while the fault lasted).
   */
  async function recovery(s: Stage, endedAt: number): Promise<number | null> {
    const before = await until('the database to answer the test', () => completedAttempts(s).then((n) => ({ n })), 30_000, 20);
    const seen = await whileUp(
      s,
      'a subtask completed after the fault',
      async () => ((await completedAttempts(s)) > before.n ? 'completed' : (await open(s)) === 0 ? 'nothing left' : undefined),
      90_000,
      20,
    );
    return seen === 'completed' ? Math.round((performance.now() - endedAt) / 10) / 100 : null;
  }

  /**
   * Runs a scenario: the stage, both tasks in flight, `fault`, then the
   * checks. `fault` returns when the fault is over (performance.now() then),
   * how long it lasted, notes for the table, and `afterwards`: checks of its own,
   * run while recovery is measured (not before, so they do not count in it),
   * which may add to the notes.
   */
  async function scenario(
    name: string,
    options: { instances: 1 | 2; target_s: number | null /** Outages the fault may declare on each instance. */; outages?: number },
    fault: (s: Stage, tasks: { execution: string; task: string }) => Promise<Fault>,
  ): Promise<void> {
    const s = await stage(options.instances);
    try {
      const execution = (
        await s.call('POST', `/api/v1/agents/networks/${s.network}/execute`, { task: { items: ITEMS, chunk_size: 1, reduce: 'sum' } })
      ).body.id as string;
      const vote = await s.call('POST', '/swarm/coordinate', {
        swarm_id: s.swarmId,
        strategy: 'consensus',
        collaborators: 3,
        parameters: { capability: 'faults', payload: { question: 'the answer' }, lease_seconds: LEASE },
      });
      expect(vote.status, JSON.stringify(vote.body)).toBe(202);
      const task = vote.body.task_id as string;
      // Both in flight: some of the execution done, more of it and the votes under lease.
      await until('work in flight', async () => {
        const p = await progress(s, execution, task);
        return p.done >= 4 && p.leased > 0 && p.votes_leased > 0;
      });

      const injected = await fault(s, { execution, task });
      const { endedAt, seconds } = injected;
      const [recovered, more] = await Promise.all([recovery(s, endedAt), injected.afterwards?.()]);
      const notes = [injected.notes, more].filter(Boolean).join('; ');

      // Everything finishes, through an instance still up.
      const api = restClient(live(s), s.ownerKey);
      const finished = await whileUp(
        s,
        'the execution to complete',
        async () => {
          const e = (await api('GET', `/api/v1/agents/networks/${s.network}/executions/${execution}`)).body;
          return e.status === 'completed' ? e : undefined;
        },
        120_000,
      );
      const decided = await whileUp(
        s,
        'the vote to complete',
        async () => {
          const t = (await api('GET', `/swarm/tasks/${task}/status`)).body;
          return t.status === 'completed' ? t : undefined;
        },
        60_000,
      );
      expect(finished.results).toMatchObject({ reduced: REDUCED, subtask_results: ITEMS.map((x) => 2 * x) });
      expect(decided.consensus).toMatchObject({ consensus_reached: true, result: { final_answer: { answer: 42 } } });
      expect([...decided.consensus.participating_members].sort()).toEqual([...s.members].sort());

      // Stop the workers, then read the database itself.
      for (const w of s.sdkWorkers) w.stop();
      if (s.cli.exitCode === null && s.cli.signalCode === null) s.cli.kill('SIGTERM');
      await Promise.race([Promise.all(s.sdkRuns), sleep(35_000)]);
      const exits = s.instances.filter((i) => !i.killed && !alive(i.server.pid)).length;
      const counts = (
        await monitor<{ open: number; twice: number; votes_missing: number; votes_twice: number }>(
          s.url,
          `SELECT
             (SELECT count(*) FROM "subtasks" WHERE "status" <> 'completed')::int AS "open",
             (SELECT count(*) FROM (SELECT "subtask_id" FROM "subtask_attempts" WHERE "outcome" = 'completed'
                                     GROUP BY "subtask_id" HAVING count(*) > 1) t)::int AS "twice",
             (3 - (SELECT count(DISTINCT "member_id") FROM "swarm_votes"))::int AS "votes_missing",
             (SELECT count(*) FROM (SELECT "member_id" FROM "swarm_votes" GROUP BY "member_id" HAVING count(*) > 1) v)::int AS "votes_twice"`,
        )
      )[0]!;
      const lost = counts.open + counts.votes_missing;
      const countedTwice = counts.twice + counts.votes_twice + Math.max(0, finished.progress.completed - ITEMS.length);
      const db = await Database.connect({ provider: 'postgresql', url: s.url });
      let invariants: string[];
      try {
        invariants = await checkInvariants(db);
      } finally {
        await db.close();
      }
      const outputs = s.instances.map((i) => i.server.output()).join('\n');
      // One line when the database went, one when it came back (per instance), whatever failed in between.
      const downs = s.instances.map((i) => (i.server.output().match(/database (unreachable|is read-only) \(/g) ?? []).length);
      const backs = s.instances.map((i) => (i.server.output().match(/database (reachable|writable) again after/g) ?? []).length);
      const row: FaultRow = {
        scenario: name,
        lost,
        counted_twice: countedTwice,
        recovery_s: recovered,
        target_s: options.target_s,
        server_exits: exits,
        fault_s: Math.round(seconds * 10) / 10,
        outage_log_lines: downs.reduce((a, b) => a + b, 0) + backs.reduce((a, b) => a + b, 0),
        notes,
      };
      rows.push(row);
      console.log(
        `[faults] ${name}: lost ${lost}, counted twice ${countedTwice}, recovery ${recovered === null ? 'n/a' : `${recovered} s`}` +
          `${options.target_s === null ? '' : ` (target ≤ ${options.target_s} s)`}, server exits ${exits}, outage log lines ${row.outage_log_lines}${notes ? `; ${notes}` : ''}`,
      );

      expect(exits, outputs.slice(-3000)).toBe(0);
      expect(outputs).not.toMatch(/Unhandled 'error' event|reached no listener|Uncaught exception|Unhandled rejection/);
      // Never a 500 for a database fault, never a line per failed sweep.
      expect(outputs).not.toMatch(/"msg":"(request failed|procedure failed|sweep failed)"/);
      expect(downs).toEqual(backs);
      for (const n of downs) expect(n).toBeLessThanOrEqual(options.outages ?? 0);
      expect(lost).toBe(0);
      expect(countedTwice).toBe(0);
      expect(invariants).toEqual([]);
      expect(s.sdkErrors).toEqual([]);
      if (options.target_s !== null && recovered !== null) expect(recovered).toBeLessThanOrEqual(options.target_s);
    } finally {
      for (const w of s.sdkWorkers) w.abandon();
      if (s.cli.exitCode === null && s.cli.signalCode === null) {
        s.cli.kill('SIGCONT');
        s.cli.kill('SIGKILL');
      }
      await s.balancer?.close();
      await Promise.all(s.instances.map((i) => i.server.stop('SIGTERM')));
      for (const dir of s.dataDirs) rmSync(dir, { recursive: true, force: true });
    }
  }

  /** A subtask the CLI worker holds under lease right now. */
  const cliLease = (s: Stage, execution: string) =>
    until('the CLI worker to hold a lease', async () => {
      const rows = await monitor<{ id: string }>(
        s.url,
        `SELECT "id" FROM "subtasks" WHERE "execution_id" = $1 AND "status" = 'leased' AND "assignee_id" = $2`,
        [execution, s.agents.cli],
      );
      return rows.length > 0 ? rows.map((r) => r.id) : undefined;
    });

  return { rows, run: scenario, monitor, cliLease };
}

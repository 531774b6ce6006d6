/**
 * `pnpm bench [--db sqlite|postgres] [--quick] [--instances N] [--only name,name] [--cpu-prof]`
 *
 * Starts real server processes on a fresh database and drives them over
 * loopback HTTP (autocannon for single requests, a keep-alive HTTP driver for
 * the multi-step scenarios), never in-process. Prints one table (throughput,
 * p50/p95/p99 latency, errors, the servers' peak RSS so far) and writes
 * bench/results/latest.json with the machine and the commit. `--quick` is the
 * short version CI runs: small sizes, one second per scenario, and it fails
 * on any error. See bench/README.md for what each scenario means.
 */
import autocannon from 'autocannon';
import { execFileSync, execSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createScratchDatabase } from '../apps/server/src/db/scratch-database.ts';
import { compiledServer, spawnServer } from '../apps/server/test/support/server-process.ts';
import { createWorker } from '../packages/client/src/index.ts';
import { makespan } from './makespan.ts';
import { verification } from './verification.ts';
import type { Row } from './row.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const quick = args.includes('--quick');
const dbKind = flag('--db') ?? 'sqlite';
const instances = Number(flag('--instances') ?? 1);
const only = flag('--only')?.split(',');
/** --cpu-prof: each server writes a V8 CPU profile (open it in Chrome DevTools) to bench/results/profiles/ when it stops. */
const cpuProf = args.includes('--cpu-prof');
if (dbKind !== 'sqlite' && dbKind !== 'postgres') throw new Error('--db takes sqlite or postgres');
if (instances > 1 && dbKind !== 'postgres') throw new Error('--instances needs --db postgres (several servers share one PostgreSQL)');
const CONNECTIONS = 64;
const SECONDS = quick ? 1 : 5;
const SIZES = quick ? [100, 1000] : [100, 1000, 10_000];
const RECORDED_SUBTASKS = quick ? 2000 : 100_000;
const HEARTBEAT_MEMBERS = quick ? 1000 : 10_000;
const HEARTBEAT_SECONDS = quick ? 2 : 30;
/** Subtasks the batched-worker scenario drains, and the map execution's items. */
const BATCHED_SUBTASKS = quick ? 5000 : 60_000;
const MAP_ITEMS = quick ? 5000 : 100_000;
const DISPATCHES = quick ? 50 : 400;

interface Server {
  url: string;
  pid: number;
  output(): string;
  stop(): Promise<number | null>;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Peak resident set size of the server processes so far (VmHWM), in MiB: the largest of them. */
function peakRss(servers: Server[]): number {
  return Math.max(
    ...servers.map((s) => {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.pid}/status`, 'utf8'));
      return m ? Math.round(Number(m[1]) / 1024) : 0;
    }),
  );
}

const round = (n: number) => Math.round(n * 100) / 100;

/**
 * PostgreSQL lock waits while `work` runs: every 20 ms, which backends of this database wait on a lock, and on
 * which table. Returns the share of samples with any waiter and the tables most waited on.
 */
async function lockWaits<T>(url: string | undefined, work: () => Promise<T>): Promise<{ value: T; summary: string | null }> {
  if (!url) return { value: await work(), summary: null };
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let samples = 0;
  let withWaiter = 0;
  let waiters = 0;
  const byTable = new Map<string, number>();
  let done = false;
  const sampling = (async () => {
    while (!done) {
      const { rows } = await client.query<{ relation: string | null }>(
        `SELECT COALESCE(c.relname, l.locktype) || ' (' || left(regexp_replace(a.query, '\\s+', ' ', 'g'), 48) || ')'
           || COALESCE(' behind ' || b.state || ': ' || left(regexp_replace(b.query, '\\s+', ' ', 'g'), 48), '') AS relation
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid LEFT JOIN pg_class c ON c.oid = l.relation
         LEFT JOIN pg_stat_activity b ON b.pid = (pg_blocking_pids(a.pid))[1]
         WHERE NOT l.granted AND a.datname = current_database()`,
      );
      samples++;
      if (rows.length > 0) withWaiter++;
      waiters += rows.length;
      for (const r of rows)
        byTable.set(r.relation ?? '(transaction or tuple)', (byTable.get(r.relation ?? '(transaction or tuple)') ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    const value = await work();
    return {
      value,
      summary:
        `lock waits: a backend waited in ${withWaiter} of ${samples} samples (${((withWaiter / Math.max(1, samples)) * 100).toFixed(1)}%), ` +
        `${(waiters / Math.max(1, samples)).toFixed(2)} waiting on average` +
        (byTable.size
          ? `; waited on: ${[...byTable]
              .sort((a, b) => b[1] - a[1])
              .slice(0, 4)
              .map(([t, n]) => `${t} ${n}`)
              .join(', ')}`
          : ''),
    };
  } finally {
    done = true;
    await sampling;
    await client.end();
  }
}

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function row(scenario: string, unit: string, latencies: number[], seconds: number, errors: number, servers: Server[]): Row {
  latencies.sort((a, b) => a - b);
  return {
    scenario,
    unit,
    count: latencies.length,
    rate: Math.round((latencies.length / seconds) * 10) / 10,
    p50: round(percentile(latencies, 50)),
    p95: round(percentile(latencies, 95)),
    p99: round(percentile(latencies, 99)),
    errors,
    peakRssMiB: peakRss(servers),
  };
}

/** One JSON request (fetch keeps connections alive); throws on a status it did not expect. */
async function call<T>(base: string, key: string, method: string, path: string, body?: unknown, expect = [200, 201, 202]): Promise<T> {
  const res = await fetch(base + path, {
    method,
    headers: { 'x-api-key': key, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!expect.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** SQL statements the server has sent so far (its /metrics counter, read from loopback without a key). */
async function statementsSent(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = /^aitbc_db_statements_total (\d+)/m.exec(text);
  if (!m) throw new Error('/metrics has no aitbc_db_statements_total');
  return Number(m[1]);
}

/** Backup copies (speculation) the servers launched so far, from their /metrics. */
async function backupsLaunched(servers: { url: string }[]): Promise<number> {
  let n = 0;
  for (const sv of servers) {
    const text = await (await fetch(`${sv.url}/metrics`)).text();
    n += Number(/^aitbc_backups_total\{event="launched"\} (\d+)/m.exec(text)?.[1] ?? 0);
  }
  return n;
}

/** Statements per unit of `work`, run alone (nothing else is running): the server's counter before and after. */
async function statementsPer(base: string, units: number, work: () => Promise<void>): Promise<number> {
  const before = await statementsSent(base);
  await work();
  return Math.round((((await statementsSent(base)) - before) / units) * 100) / 100;
}

/**
 * A baseline in its own process: bench/bare.mjs (node|fastify), or bench/plugin-probe.ts (a Fastify app with one
 * plugin); resolves with its URL and a stop function.
 */
async function startBare(kind: string): Promise<{ url: string; pid: number; stop(): void }> {
  const args = ['node', 'fastify'].includes(kind)
    ? [join(root, 'bench/bare.mjs'), kind]
    : ['--import', 'tsx', join(root, 'bench/plugin-probe.ts'), kind];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const m = /listening (\d+)/.exec(String(d));
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`bare ${kind} exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, stop: () => child.kill() };
}

const hasWrk = (() => {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // wrk prints its version and exits 1.
    return (error as { status?: number }).status === 1;
  }
})();

/**
 * wrk (2 threads, 64 connections, SECONDS) against one request: its rate and latency percentiles, from wrk's own
 * --latency report. A body is POSTed as JSON; headers go on every request.
 */
function wrk(url: string, method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}) {
  const script = join(tmpdir(), `aitbc-wrk-${process.pid}.lua`);
  const all = { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
  writeFileSync(
    script,
    [
      `wrk.method = "${method}"`,
      ...Object.entries(all).map(([k, v]) => `wrk.headers["${k}"] = "${v}"`),
      body !== undefined ? `wrk.body = ${JSON.stringify(JSON.stringify(body))}` : '',
      'done = function(summary, latency, requests)',
      '  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,',
      '    latency:percentile(50), latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,',
      '    summary.errors.status, latency.max))',
      'end',
    ].join('\n'),
  );
  const out = execFileSync('wrk', ['-t2', '-c64', `-d${SECONDS}s`, '-s', script, url + path], { encoding: 'utf8' });
  rmSync(script, { force: true });
  const m = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out);
  if (!m) throw new Error(`wrk printed no result: ${out}`);
  const [requests, durationUs, p50, p99, errors, non2xx] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return { rate: requests / (durationUs / 1e6), p50: p50 / 1000, p99: p99 / 1000, errors, non2xx };
}

/** The event loop's delay p99 (ms) over a window: bucket counts of the server's histogram, before and after. */
async function loopDelayBuckets(base: string): Promise<Map<number, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const buckets = new Map<number, number>();
  for (const m of text.matchAll(/^aitbc_event_loop_delay_seconds_bucket\{le="([^"]+)"\} (\d+)/gm))
    buckets.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
  return buckets;
}
function loopDelayP99(before: Map<number, number>, after: Map<number, number>): number | null {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return null;
  for (const le of les) if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= 0.99 * total) return le * 1000;
  return null;
}

/** autocannon at 64 connections for SECONDS against one request shape (bodies may vary per request). */
async function cannon(
  scenario: string,
  servers: Server[],
  key: string,
  req: { method: 'GET' | 'POST'; path: string | (() => string); body?: () => unknown },
  seconds = SECONDS,
): Promise<Row> {
  const latencies: number[] = [];
  const url = servers[0]!.url;
  const instance = autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    requests: [
      {
        method: req.method,
        ...(typeof req.path === 'string' ? { path: req.path } : {}),
        setupRequest: (r: Record<string, unknown>) => ({
          ...r,
          ...(typeof req.path === 'function' ? { path: req.path() } : {}),
          ...(req.body ? { body: JSON.stringify(req.body()) } : {}),
        }),
      },
    ],
  });
  instance.on('response', (_c: unknown, status: number, _b: number, ms: number) => {
    if (status < 400) latencies.push(ms);
  });
  const result = await instance;
  return row(scenario, 'req/s', latencies, seconds, result.errors + result.timeouts + result.non2xx, servers);
}

/** Runs `worker` in `concurrency` loops for `seconds`; each iteration's time is a latency sample. */
async function loops(
  seconds: number,
  concurrency: number,
  worker: (i: number) => Promise<void>,
): Promise<{ latencies: number[]; errors: number; messages: string[] }> {
  const until = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  const messages: string[] = [];
  let errors = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      while (performance.now() < until) {
        const t = performance.now();
        try {
          await worker(i);
          latencies.push(performance.now() - t);
        } catch (error) {
          errors++;
          if (messages.length < 3) messages.push((error as Error).message);
        }
      }
    }),
  );
  return { latencies, errors, messages };
}

async function joinMembers(base: string, key: string, capability: string, n: number): Promise<{ swarm_id: string; member_id: string }[]> {
  const out: { swarm_id: string; member_id: string }[] = [];
  for (let i = 0; i < n; i += 64) {
    out.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(64, n - i) }, () =>
          call<{ swarm_id: string; member_id: string }>(base, key, 'POST', '/swarm/join', { role: 'monitor', capability }),
        ),
      )),
    );
  }
  return out;
}

/** Compiles the server as `pnpm start` does and starts `count` of it. */
async function startServers(env: NodeJS.ProcessEnv, count: number): Promise<Server[]> {
  execSync('node scripts/bundle.mjs', { cwd: join(root, 'apps/server'), stdio: 'inherit' });
  const servers: Server[] = [];
  const profiling = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'bench/results/profiles')}`] : [];
  for (let i = 0; i < count; i++)
    servers.push(await spawnServer(env, { ...compiledServer, nodeArgs: [...compiledServer.nodeArgs, ...profiling] }));
  return servers;
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-bench-'));
  const pgdb =
    dbKind === 'postgres'
      ? await createScratchDatabase(process.env.TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test', 'aitbc_bench')
      : null;
  const adminKey = `bench-admin-${process.pid}`;
  const env = {
    HOST: '127.0.0.1',
    DATABASE_URL: pgdb?.url ?? '',
    AITBC_DATA_DIR: dataDir,
    AITBC_ADMIN_API_KEYS: adminKey,
    LOG_LEVEL: 'warn',
    AITBC_RATE_LIMIT: 'off',
  };
  const servers = await startServers(env, instances);
  const base = servers[0]!.url;
  const rows: Row[] = [];
  const notes: string[] = [];
  const want = (name: string) => !only || only.includes(name);
  try {
    const key = (await call<{ key: string }>(base, adminKey, 'POST', '/api/v1/keys', { owner_id: 'bench' })).key;

    if (want('overhead')) {
      // Every request's fixed cost, side by side in one run: a bare node:http handler and a bare Fastify app started
      // here, then the server on a 404, /healthz, a join and a swarm status, each driven by wrk in turn.
      if (!hasWrk) {
        notes.push('overhead: SKIPPED, wrk is not installed (Debian: apt-get install wrk)');
      } else {
        const members = await joinMembers(base, key, 'bench-overhead', 100);
        const targets: { name: string; url: string; method: 'GET' | 'POST'; path: string; body?: unknown; server: boolean }[] = [];
        const bareNode = await startBare('node');
        const bareFastify = await startBare('fastify');
        // The server's hand-written plugins against the Fastify plugins that do the same, each alone on a bare app.
        const probes = await Promise.all(
          ['headers-ours', 'headers-helmet', 'ratelimit-ours', 'ratelimit-fastify'].map(async (kind) => ({
            kind,
            ...(await startBare(kind)),
          })),
        );
        try {
          targets.push(
            {
              name: 'bare node:http POST',
              url: bareNode.url,
              method: 'POST',
              path: '/echo',
              body: { role: 'monitor', capability: 'x' },
              server: false,
            },
            {
              name: 'bare Fastify POST',
              url: bareFastify.url,
              method: 'POST',
              path: '/echo',
              body: { role: 'monitor', capability: 'x' },
              server: false,
            },
            ...probes.map((p) => ({
              name: `Fastify + ${
                {
                  'headers-ours': 'security headers (ours)',
                  'headers-helmet': 'security headers (@fastify/helmet)',
                  'ratelimit-ours': 'rate limit (ours)',
                  'ratelimit-fastify': 'rate limit (@fastify/rate-limit)',
                }[p.kind]
              } POST`,
              url: p.url,
              method: 'POST' as const,
              path: '/echo',
              body: { role: 'monitor', capability: 'x' },
              server: false,
            })),
            { name: 'server: unknown path (404)', url: base, method: 'GET', path: '/no/such/path', server: true },
            { name: 'server: GET /healthz', url: base, method: 'GET', path: '/healthz', server: true },
            {
              name: 'server: POST /swarm/join',
              url: base,
              method: 'POST',
              path: '/swarm/join',
              body: { role: 'monitor', capability: 'bench-overhead-join' },
              server: true,
            },
            {
              name: 'server: GET /swarm/status',
              url: base,
              method: 'GET',
              path: `/swarm/status?swarm_id=${members[0]!.swarm_id}`,
              server: true,
            },
          );
          let bareRate = 0;
          let fastifyRate = 0;
          for (const t of targets) {
            const before = t.server ? await loopDelayBuckets(base) : null;
            const r = wrk(t.url, t.method, t.path, t.body, { 'x-api-key': key });
            const delay = before ? loopDelayP99(before, await loopDelayBuckets(base)) : null;
            if (!t.server && t.name.startsWith('bare node')) bareRate = r.rate;
            if (!t.server && t.name.startsWith('bare Fastify')) fastifyRate = r.rate;
            const expectedStatus = t.path === '/no/such/path' ? 404 : 200;
            rows.push({
              scenario: `overhead: ${t.name}`,
              unit: 'req/s',
              count: Math.round(r.rate * SECONDS),
              rate: Math.round(r.rate),
              p50: round(r.p50),
              p95: 0,
              p99: round(r.p99),
              // A 404 is the answer asked for there; anything else not 2xx is an error.
              errors: r.errors + (expectedStatus === 404 ? 0 : r.non2xx),
              peakRssMiB: t.server ? peakRss(servers) : 0,
            });
            notes.push(
              `overhead ${t.name}: ${(r.rate / bareRate).toFixed(3)}× bare node:http` +
                (t.name.startsWith('Fastify +') ? ` (${(r.rate / fastifyRate).toFixed(3)}× bare Fastify)` : '') +
                `, p99/p50 ${(r.p99 / r.p50).toFixed(1)}` +
                (delay !== null ? `, event-loop delay p99 ≤ ${delay} ms` : ''),
            );
          }
        } finally {
          bareNode.stop();
          bareFastify.stop();
          for (const p of probes) p.stop();
        }
      }
    }

    if (want('network')) {
      // 1. network.create with 10 agents.
      const agents = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: `bench-agent-${i}`, capabilities: ['gpu'] }),
        ),
      );
      const ids = agents.map((a) => a.id);
      rows.push(
        await cannon('network.create (10 agents)', servers, key, {
          method: 'POST',
          path: '/api/v1/agents/networks',
          body: () => ({ name: 'bench', agents: ids }),
        }),
      );
    }

    if (want('membership')) {
      // 2. swarm.join, then swarm.leave of the members it made.
      const joined: { swarm_id: string; member_id: string }[] = [];
      const joinRow = await cannon('swarm.join', servers, key, {
        method: 'POST',
        path: '/swarm/join',
        body: () => ({ role: 'monitor', capability: 'bench-join' }),
      });
      rows.push(joinRow);
      const listed = await call<{ swarms: { swarm_id: string }[] }>(base, key, 'GET', '/swarm/list?limit=1&members_limit=0');
      const swarmId = listed.swarms[0]!.swarm_id;
      const members = await call<{ members: { member_id: string }[] }>(base, key, 'GET', `/swarm/${swarmId}/members`);
      joined.push(...members.members.map((m) => ({ swarm_id: swarmId, member_id: m.member_id })));
      let next = 0;
      rows.push(
        await cannon('swarm.leave', servers, key, {
          method: 'POST',
          path: '/swarm/leave',
          body: () => {
            const m = joined[next++ % joined.length]!;
            return { swarm_id: m.swarm_id, member_id: m.member_id };
          },
        }),
      );
      // The first pass leaves each member once; the rest of the run re-leaves (409): not errors of the server.
      const last = rows[rows.length - 1]!;
      if (next > joined.length) {
        notes.push(
          `swarm.leave: ${joined.length} members left once; ${next - joined.length} later requests re-left a member (409 by design) and are not counted as errors`,
        );
        last.errors = Math.max(0, last.errors - (next - joined.length));
      }
    }

    if (want('status')) {
      // 3. status at 100, 1,000 and 10,000 members, and network status at N recorded subtasks.
      for (const size of SIZES) {
        const members = await joinMembers(base, key, `bench-status-${size}`, size);
        const swarmId = members[0]!.swarm_id;
        rows.push(
          await cannon(`swarm.status (${size} members)`, servers, key, { method: 'GET', path: `/swarm/status?swarm_id=${swarmId}` }),
        );
      }
      const agent = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: 'bench-recorder' });
      const network = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents/networks', { name: 'recorded', agents: [agent.id] });
      rows.push(
        await cannon('network.status (0 subtasks)', servers, key, { method: 'GET', path: `/api/v1/agents/networks/${network.id}/status` }),
      );
      for (let done = 0; done < RECORDED_SUBTASKS; done += 1000) {
        await call(base, key, 'POST', `/api/v1/agents/networks/${network.id}/execute`, {
          task: { subtasks: Array.from({ length: 1000 }, (_, i) => ({ n: done + i })) },
        });
      }
      rows.push(
        await cannon(`network.status (${RECORDED_SUBTASKS} subtasks)`, servers, key, {
          method: 'GET',
          path: `/api/v1/agents/networks/${network.id}/status`,
        }),
      );
    }

    if (want('consensus')) {
      // 4. coordinate → member claims and votes → decided consensus, with 5 (and 6.) heartbeats from many members at 1 Hz beside it.
      // Each loop has a swarm of its own 3 voters, so its claims only ever meet its own tasks.
      // The voters join last: joining the heartbeaters takes ~10 s, and a voter silent for 15 s would be suspect
      // before its loop starts (from then on, its claims keep it active).
      const heartbeaters = await joinMembers(base, key, 'bench-heartbeat', HEARTBEAT_MEMBERS);
      for (let i = 0; i < 16; i++) await joinMembers(base, key, `bench-vote-${i}`, 3);
      // The second half: SDK workers for the voters (createWorker), several tasks in flight per swarm, and the
      // coordinator long-polling each task's status until it is decided. Their workers start now: an idle
      // worker's long-polled claims are its signs of life.
      const workerSwarms = 4;
      const workerLoops = 64;
      const voters = (
        await Promise.all(Array.from({ length: workerSwarms }, (_, i) => joinMembers(base, key, `bench-sdk-vote-${i}`, 3)))
      ).flat();
      const voterWorkers = voters.map((m, i) =>
        createWorker({
          url: servers[i % servers.length]!.url,
          apiKey: key,
          member: m.member_id,
          concurrency: 64,
          waitSeconds: 5,
          handler: () => ({ answer: 42 }),
        }),
      );
      const voting = voterWorkers.map((w) => w.run());
      const hbIds = heartbeaters.map((m) => m.member_id);
      let heartbeatErrors = 0;
      let heartbeatsSent = 0;
      const hbLatencies: number[] = [];
      // Every member heartbeats once a second, in batches of 100 (a host per 100 members), each batch on its own
      // fixed slot within the second, as independent hosts would: a slow answer delays no later beat.
      const slots = Math.ceil(hbIds.length / 100);
      const sent: Promise<void>[] = [];
      const origin = performance.now();
      const heartbeats = (async () => {
        for (let second = 0; second < HEARTBEAT_SECONDS; second++) {
          for (let slot = 0; slot < slots; slot++) {
            const due = origin + second * 1000 + (slot * 1000) / slots;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            const batch = hbIds.slice(slot * 100, slot * 100 + 100);
            const target = servers[slot % servers.length]!.url;
            sent.push(
              (async () => {
                const t = performance.now();
                try {
                  const r = await call<{ accepted: number; refused: unknown[] }>(target, key, 'POST', '/swarm/heartbeats', {
                    member_ids: batch,
                  });
                  heartbeatsSent += r.accepted;
                  heartbeatErrors += r.refused.length;
                  hbLatencies.push(performance.now() - t);
                } catch {
                  heartbeatErrors += batch.length;
                }
              })(),
            );
          }
        }
        await Promise.all(sent);
      })();
      let task = 0;
      const run = await loops(HEARTBEAT_SECONDS / 2, 16, async (i) => {
        const target = servers[i % servers.length]!.url;
        const t = await call<{ task_id: string; assigned_members: string[] }>(target, key, 'POST', '/swarm/coordinate', {
          task_id: `bench-${process.pid}-${task++}`,
          strategy: 'broadcast',
          parameters: { payload: { q: i }, collaborators: 3, capability: `bench-vote-${i}` },
        });
        for (const member of t.assigned_members) {
          const claim = await call<{ subtask: { subtask_id: string; lease_id: string } | null }>(
            target,
            key,
            'POST',
            `/swarm/members/${member}/claim`,
            {},
          );
          if (!claim.subtask) throw new Error(`member ${member} had nothing to claim`);
          await call(target, key, 'POST', `/api/v1/subtasks/${claim.subtask.subtask_id}/result`, {
            lease_id: claim.subtask.lease_id,
            result: { answer: 42 },
          });
        }
        const status = await call<{ status: string }>(target, key, 'GET', `/swarm/tasks/${t.task_id}/status`);
        if (status.status !== 'completed') throw new Error(`task ${t.task_id} is ${status.status} after its last vote`);
      });
      const sdk = await loops(HEARTBEAT_SECONDS / 2, workerLoops, async (i) => {
        const target = servers[i % servers.length]!.url;
        const t = await call<{ task_id: string }>(target, key, 'POST', '/swarm/coordinate', {
          task_id: `bench-${process.pid}-${task++}`,
          strategy: 'broadcast',
          parameters: { payload: { q: i }, collaborators: 3, capability: `bench-sdk-vote-${i % workerSwarms}` },
        });
        const status = await call<{ status: string }>(target, key, 'GET', `/swarm/tasks/${t.task_id}/status?wait_seconds=10`);
        if (status.status !== 'completed') throw new Error(`task ${t.task_id} is ${status.status} after waiting for it`);
      });
      for (const w of voterWorkers) w.stop();
      const voted = await Promise.all(voting);
      await heartbeats;
      // The heartbeating members leave now: silent, they would turn suspect and then failed while later
      // scenarios run, and the failure detector's writes would be measured as theirs.
      await call(base, key, 'POST', '/swarm/leave', { swarm_id: heartbeaters[0]!.swarm_id });
      // Until the last answer: a server that falls behind shows as a rate under HEARTBEAT_MEMBERS/s.
      const hbSeconds = (performance.now() - origin) / 1000;
      rows.push(
        row(
          'coordinate → consensus (3 voters), one request per step',
          'tasks/s',
          run.latencies,
          HEARTBEAT_SECONDS / 2,
          run.errors,
          servers,
        ),
      );
      rows.push(
        row(
          `coordinate → consensus (3 voters), createWorker voters, status long-polled (${workerLoops} tasks in flight)`,
          'tasks/s',
          sdk.latencies,
          HEARTBEAT_SECONDS / 2,
          sdk.errors + voted.reduce((n, v) => n + v.lost, 0),
          servers,
        ),
      );
      if (sdk.messages.length) notes.push(`coordinate → consensus (createWorker) errors: ${sdk.messages.join(' | ')}`);
      rows.push(
        row(
          `heartbeats (${HEARTBEAT_MEMBERS} members at 1 Hz, batches of 100)`,
          'beats/s',
          hbLatencies.flatMap((l) => Array(100).fill(l)),
          hbSeconds,
          heartbeatErrors,
          servers,
        ),
      );
      if (run.messages.length) notes.push(`coordinate → consensus errors: ${run.messages.join(' | ')}`);
      notes.push(
        `heartbeats: ${heartbeatsSent} accepted, sent over ${HEARTBEAT_SECONDS} s and answered within ${hbSeconds.toFixed(1)} s (latency is per batch request of 100)`,
      );
    }

    if (want('claims')) {
      // Claims and results against one network, from 64 workers spread over the instances; no subtask may be claimed twice.
      // With --instances N, the same run on 1 instance first, then on N, side by side.
      for (const n of instances > 1 ? [1, instances] : [1]) {
        const on = servers.slice(0, n);
        const agents = await Promise.all(
          Array.from({ length: 64 }, (_, i) => call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: `claimer-${n}-${i}` })),
        );
        const network = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents/networks', {
          name: `claims-${n}`,
          agents: agents.map((a) => a.id),
          coordination_strategy: 'round-robin',
        });
        const total = quick ? 2000 : 20_000;
        const executions: string[] = [];
        for (let done = 0; done < total; done += 1000) {
          const e = await call<{ id: string }>(base, key, 'POST', `/api/v1/agents/networks/${network.id}/execute`, {
            task: { subtasks: Array.from({ length: 1000 }, (_, i) => done + i) },
          });
          executions.push(e.id);
        }
        // Statements per claim + result pair, sequentially on one agent with nothing else running.
        // (Round-robin gives each agent total/64 subtasks; --quick has 31 each.)
        const pairs = Math.min(50, Math.floor(total / 64) - 1);
        const perPair = await statementsPer(base, pairs, async () => {
          for (let i = 0; i < pairs; i++) {
            const claim = await call<{ subtask: { subtask_id: string; lease_id: string } }>(
              base,
              key,
              'POST',
              `/api/v1/agents/${agents[0]!.id}/claim`,
              {},
            );
            await call(base, key, 'POST', `/api/v1/subtasks/${claim.subtask.subtask_id}/result`, {
              lease_id: claim.subtask.lease_id,
              result: 1,
            });
          }
        });
        notes.push(`claim + result: ${perPair} SQL statements per pair (sequential, one agent; BEGIN/COMMIT not counted)`);
        const seen = new Map<string, number>();
        const { value: run, summary: waits } = await lockWaits(pgdb?.url, () =>
          loops(SECONDS, 64, async (i) => {
            const target = on[i % on.length]!.url;
            const agent = agents[i]!.id;
            const claim = await call<{ subtask: { subtask_id: string; lease_id: string } | null }>(
              target,
              key,
              'POST',
              `/api/v1/agents/${agent}/claim`,
              {},
            );
            if (!claim.subtask) return;
            seen.set(claim.subtask.subtask_id, (seen.get(claim.subtask.subtask_id) ?? 0) + 1);
            await call(target, key, 'POST', `/api/v1/subtasks/${claim.subtask.subtask_id}/result`, {
              lease_id: claim.subtask.lease_id,
              result: 1,
            });
          }),
        );
        if (waits) notes.push(`claim + result (${n} instance(s)) ${waits}`);
        const doubles = [...seen.values()].filter((c) => c > 1).length;
        // What the run left unclaimed is withdrawn: 30 s on, the sweeper would hand it to other agents, one
        // transaction a subtask, while the next scenarios run.
        for (const id of executions)
          await call(base, key, 'POST', `/api/v1/agents/networks/${network.id}/executions/${id}/cancel`, undefined, [200, 409]);
        rows.push(row(`claim + result (${n} instance${n > 1 ? 's' : ''})`, 'pairs/s', run.latencies, SECONDS, run.errors + doubles, on));
        notes.push(`claims on ${n} instance(s): ${seen.size} subtasks claimed and completed, ${doubles} claimed twice`);
      }
    }

    if (want('batched')) {
      // The SDK's workers (createWorker, handlers in this process that return at once) drain a queue: claims of up to
      // their free slots, one heartbeat for all leases, results batched. WORKERS agents, one worker each.
      const WORKERS = 8;
      const CONCURRENCY = 64;
      for (const n of instances > 1 ? [1, instances] : [1]) {
        const on = servers.slice(0, n);
        const agents = await Promise.all(
          Array.from({ length: WORKERS }, (_, i) =>
            call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: `batcher-${n}-${i}` }),
          ),
        );
        const network = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents/networks', {
          name: `batched-${n}`,
          agents: agents.map((a) => a.id),
          claim_timeout_seconds: 3600,
        });
        const executions: string[] = [];
        for (let done = 0; done < BATCHED_SUBTASKS; done += 1000) {
          const e = await call<{ id: string }>(base, key, 'POST', `/api/v1/agents/networks/${network.id}/execute`, {
            task: { subtasks: Array.from({ length: 1000 }, (_, i) => done + i) },
          });
          executions.push(e.id);
        }
        // Each worker holds a worker key that names its agent alone, as the README deploys them.
        const workerKeys = await Promise.all(
          agents.map(
            async (a) => (await call<{ key: string }>(base, key, 'POST', '/api/v1/keys', { scope: 'worker', agents: [a.id] })).key,
          ),
        );
        const handled = new Map<unknown, number>();
        // The workers' own account of trouble (a lost lease, a refused or failed call), the first few lines.
        const trouble: string[] = [];
        const workers = agents.map((a, i) =>
          createWorker({
            url: on[i % on.length]!.url,
            apiKey: workerKeys[i]!,
            agent: a.id,
            concurrency: CONCURRENCY,
            waitSeconds: 1,
            log: (line: string) => {
              if (trouble.length < 5 && /lost|refused|unreachable|retry|error/i.test(line)) trouble.push(line);
            },
            handler: (payload) => {
              handled.set(payload, (handled.get(payload) ?? 0) + 1);
              return payload;
            },
          }),
        );
        const before = await statementsSent(on[0]!.url);
        const backupsBefore = await backupsLaunched(on);
        const cpu0 = { bench: process.cpuUsage(), servers: on.map((sv) => cpuSeconds(sv.pid)) };
        const t0 = performance.now();
        const running = workers.map((w) => w.run());
        const { summary: waits } = await lockWaits(pgdb?.url, async () => {
          while (workers.reduce((sum, w) => sum + w.summary.completed, 0) < BATCHED_SUBTASKS && performance.now() - t0 < 600_000) {
            await new Promise((r) => setTimeout(r, 5));
          }
        });
        if (waits) notes.push(`batched (${n} instance(s)) ${waits}`);
        if (trouble.length) notes.push(`batched (${n} instance(s)) workers said: ${trouble.join(' | ')}`);
        const seconds = (performance.now() - t0) / 1000;
        const benchCpu = (process.cpuUsage(cpu0.bench).user + process.cpuUsage(cpu0.bench).system) / 1e6 / seconds;
        const serverCpu = on.map((sv, i) => (cpuSeconds(sv.pid) - cpu0.servers[i]!) / seconds);
        for (const w of workers) w.stop();
        const summaries = await Promise.all(running);
        const statements = n === 1 ? ((await statementsSent(on[0]!.url)) - before) / BATCHED_SUBTASKS : null;
        const completed = summaries.reduce((sum, x) => sum + x.completed, 0);
        const lost = summaries.reduce((sum, x) => sum + x.lost, 0);
        const twice = [...handled.values()].filter((c) => c > 1).length;
        // A backup copy (speculation, on by default) runs a subtask twice and its loser's result is refused: expected,
        // up to the number launched. Counted twice would be a fencing bug: `completed` covers it.
        const backups = (await backupsLaunched(on)) - backupsBefore;
        const listed = await call<{ total_count: number }>(
          base,
          key,
          'GET',
          `/api/v1/agents/networks/${network.id}/executions?status=completed&limit=1`,
        );
        const unfinished = executions.length - listed.total_count;
        rows.push({
          scenario: `batched claim + result via createWorker (${WORKERS} workers × ${CONCURRENCY}, ${n} instance${n > 1 ? 's' : ''})`,
          unit: 'subtasks/s',
          count: completed,
          rate: Math.round(completed / seconds),
          p50: 0,
          p95: 0,
          p99: 0,
          errors: Math.max(0, lost - backups) + Math.max(0, twice - backups) + unfinished + Math.abs(BATCHED_SUBTASKS - completed),
          peakRssMiB: peakRss(on),
        });
        notes.push(
          `batched (${n} instance(s)): ${completed} of ${BATCHED_SUBTASKS} subtasks completed in ${seconds.toFixed(2)} s, ${twice} handled twice, ${lost} lost, ` +
            `${backups} backup copies launched (${((backups / BATCHED_SUBTASKS) * 100).toFixed(1)}%), ` +
            `${unfinished} executions unfinished; CPU: server(s) ${serverCpu.map((c) => `${Math.round(c * 100)}%`).join(', ')}, workers' process ${Math.round(benchCpu * 100)}%` +
            (statements === null ? '' : `; ${statements.toFixed(2)} SQL statements per subtask (claim + result, amortized)`),
        );
      }
    }

    if (want('dispatch')) {
      // Dispatch latency: an idle worker long-polls; each round submits a one-subtask execution and times until its handler runs.
      const agent = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: 'dispatcher' });
      const network = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents/networks', { name: 'dispatch', agents: [agent.id] });
      let started: ((at: number) => void) | null = null;
      const worker = createWorker({
        url: base,
        apiKey: key,
        agent: agent.id,
        waitSeconds: 30,
        handler: () => started?.(performance.now()),
      });
      const running = worker.run();
      await new Promise((r) => setTimeout(r, 200));
      const sentToClaim: number[] = [];
      const acceptedToClaim: number[] = [];
      let errors = 0;
      for (let i = 0; i < DISPATCHES; i++) {
        const claimed = new Promise<number>((resolve) => (started = resolve));
        const sent = performance.now();
        try {
          await call(base, key, 'POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { n: i } });
        } catch {
          errors++;
          continue;
        }
        const accepted = performance.now();
        const at = await Promise.race([claimed, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
        if (at < 0) {
          errors++;
          continue;
        }
        sentToClaim.push(at - sent);
        acceptedToClaim.push(Math.max(0, at - accepted));
        // Let the result land before the next round, so each dispatch finds the worker idle and waiting.
        await new Promise((r) => setTimeout(r, 20));
      }
      worker.stop();
      await running;
      rows.push(row('dispatch: execute sent → idle worker’s handler started', 'dispatches', sentToClaim, 1, errors, servers));
      rows[rows.length - 1]!.rate = sentToClaim.length;
      const a = [...acceptedToClaim].sort((x, y) => x - y);
      notes.push(
        `dispatch: from the execute's 202 arriving to the handler starting, p50 ${round(percentile(a, 50))} ms, p99 ${round(percentile(a, 99))} ms ` +
          `(0 when the claim arrived first); the row times from the execute request being sent, which includes the execute itself`,
      );
    }

    if (want('map')) {
      // A map over MAP_ITEMS items (1,000 subtasks of MAP_ITEMS / 1000 items) on 64 in-process workers, execute to completed.
      const agents = await Promise.all(
        Array.from({ length: 64 }, (_, i) => call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: `mapper-${i}` })),
      );
      const network = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents/networks', {
        name: 'map',
        agents: agents.map((x) => x.id),
      });
      const workers = agents.map((x) =>
        createWorker({
          url: base,
          apiKey: key,
          agent: x.id,
          concurrency: 4,
          handler: (payload) => (payload as { items: number[] }).items.reduce((sum, v) => sum + 2 * v, 0),
        }),
      );
      const running = workers.map((w) => w.run());
      await new Promise((r) => setTimeout(r, 200));
      const items = Array.from({ length: MAP_ITEMS }, (_, i) => i);
      const mapStatements = await statementsSent(base);
      const t0 = performance.now();
      const e = await call<{ id: string }>(base, key, 'POST', `/api/v1/agents/networks/${network.id}/execute`, {
        task: { items, chunk_size: MAP_ITEMS / 1000, reduce: 'sum' },
      });
      let view: {
        status: string;
        results: { reduced?: number } | null;
        speculation?: { backups_launched: number; backups_won: number };
      } = { status: 'queued', results: null };
      while (view.status === 'queued' || view.status === 'running') {
        await new Promise((r) => setTimeout(r, 10));
        view = await call(base, key, 'GET', `/api/v1/agents/networks/${network.id}/executions/${e.id}`);
        if (performance.now() - t0 > 600_000) break;
      }
      const seconds = (performance.now() - t0) / 1000;
      for (const w of workers) w.stop();
      await Promise.all(running);
      const expected = MAP_ITEMS * (MAP_ITEMS - 1);
      const wrong = view.status !== 'completed' || view.results?.reduced !== expected ? 1 : 0;
      rows.push({
        scenario: `map: ${MAP_ITEMS} items (1,000 subtasks) on 64 workers, execute → completed`,
        unit: 'items/s',
        count: MAP_ITEMS,
        rate: Math.round(MAP_ITEMS / seconds),
        p50: round(seconds * 1000),
        p95: round(seconds * 1000),
        p99: round(seconds * 1000),
        errors: wrong,
        peakRssMiB: peakRss(servers),
      });
      notes.push(
        `map: ${seconds.toFixed(2)} s from execute to completed (status ${view.status}, reduced ${view.results?.reduced} of ${expected} expected); ` +
          `${view.speculation?.backups_launched ?? 0} backup copies launched, ${view.speculation?.backups_won ?? 0} won; ` +
          `${Math.round((await statementsSent(base)) - mapStatements)} SQL statements (the status polls included)`,
      );
    }

    if (want('makespan')) {
      // Makespan against the ideal with stragglers and a stalled agent, work stealing and speculation off then on (bench/makespan.ts).
      const result = await makespan({ base, key, quick, call, peakRss: () => peakRss(servers) });
      rows.push(...result.rows);
      notes.push(...result.notes);
    }

    if (want('verification')) {
      // Verified results from faulty agents under none, replicate and adaptive (bench/verification.ts).
      const result = await verification({ base, key, quick, call, peakRss: () => peakRss(servers) });
      rows.push(...result.rows);
      notes.push(...result.notes);
    }

    if (want('core')) {
      // 6. core micro-benchmarks (vitest bench), in their own process.
      const out = join(dataDir, 'core-bench.json');
      execSync(`npx vitest bench --run --outputJson ${out}`, { cwd: join(root, 'packages/core'), stdio: 'ignore' });
      const report = JSON.parse(readFileSync(out, 'utf8')) as {
        files: {
          groups: { fullName: string; benchmarks: { name: string; mean: number; p99: number; hz: number; sampleCount: number }[] }[];
        }[];
      };
      for (const group of report.files.flatMap((f) => f.groups)) {
        for (const b of group.benchmarks) {
          rows.push({
            scenario: `core: ${group.fullName.split(' > ').pop()}: ${b.name}`,
            unit: 'ops/s',
            count: b.sampleCount,
            rate: Math.round(b.hz),
            p50: round(b.mean),
            p95: round(b.p99),
            p99: round(b.p99),
            errors: 0,
            peakRssMiB: 0,
          });
        }
      }
      notes.push('core rows: p50 is the mean and p95/p99 the p99 of vitest bench, in ms per call');
    }

    const commit = (() => {
      try {
        return execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
      } catch {
        return null;
      }
    })();
    const report = {
      at: new Date().toISOString(),
      commit,
      db: dbKind,
      instances,
      quick,
      connections: CONNECTIONS,
      seconds_per_scenario: SECONDS,
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? null, memory_gib: Math.round(totalmem() / 2 ** 30), node: process.version },
      scenarios: rows,
      notes,
    };
    writeFileSync(join(root, `bench/results/${quick ? 'quick' : 'latest'}.json`), JSON.stringify(report, null, 2) + '\n');
    process.stdout.write(
      `\naitbc-swarm bench: ${dbKind}, ${instances} instance(s), ${CONNECTIONS} connections, ${SECONDS}s per scenario, commit ${commit ?? 'unknown'}\n\n${table(rows)}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`,
    );
    const errors = rows.reduce((s, r) => s + r.errors, 0);
    if (errors > 0) {
      const logged = servers
        .flatMap((sv) =>
          sv
            .output()
            .split('\n')
            .filter((l) => l.includes('"level":50')),
        )
        .slice(0, 5);
      process.stderr.write(
        `bench: ${errors} errors${logged.length ? `; the servers logged:\n${logged.map((l) => l.slice(0, 1500)).join('\n')}` : ''}\n`,
      );
      process.exitCode = 1;
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await pgdb?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function table(rows: Row[]): string {
  const head = ['scenario', 'rate', 'unit', 'p50 ms', 'p95 ms', 'p99 ms', 'errors', 'peak RSS MiB'];
  const body = rows.map((r) => [r.scenario, r.rate, r.unit, r.p50, r.p95, r.p99, r.errors, r.peakRssMiB || '-'].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

await main();

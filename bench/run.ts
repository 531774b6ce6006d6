/**
 * `pnpm bench [--db sqlite|postgres] [--quick]`
 *
 * Starts a real server process on a fresh database, drives it over loopback
 * HTTP with autocannon at 64 connections, and prints one table: throughput,
 * p50/p95/p99 latency, errors, and the server's peak RSS. The same figures go
 * to bench/results/latest.json with the machine and the commit.
 */
import autocannon from 'autocannon';
import { execSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase } from '../apps/server/src/db/scratch-database.ts';
import { spawnServer } from '../apps/server/test/support/server-process.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const dbKind = args.includes('--db') ? args[args.indexOf('--db') + 1] : 'sqlite';
if (dbKind !== 'sqlite' && dbKind !== 'postgres') throw new Error('--db takes sqlite or postgres');
const CONNECTIONS = 64;
const SECONDS = quick ? 1 : 5;

interface Row {
  scenario: string;
  requests: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  peakRssMiB: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Peak resident set size of a process so far (VmHWM), in MiB. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

async function run(
  scenario: string,
  url: string,
  pid: number,
  request: { method: 'GET' | 'POST'; path: string; body?: () => string },
  headers: Record<string, string>,
): Promise<Row> {
  const latencies: number[] = [];
  const instance = autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: { ...headers, 'content-type': 'application/json' },
    requests: [
      {
        method: request.method,
        path: request.path,
        ...(request.body ? { setupRequest: (req: Record<string, unknown>) => ({ ...req, body: request.body!() }) } : {}),
      },
    ],
  });
  instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => latencies.push(ms));
  const result = await instance;
  latencies.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    scenario,
    requests: result.requests.total,
    rps: Math.round(result.requests.total / SECONDS),
    p50: round(percentile(latencies, 50)),
    p95: round(percentile(latencies, 95)),
    p99: round(percentile(latencies, 99)),
    errors: result.errors + result.timeouts + result.non2xx,
    peakRssMiB: peakRss(pid),
  };
}

function table(rows: Row[]): string {
  const head = ['scenario', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors', 'peak RSS MiB'];
  const body = rows.map((r) => [r.scenario, r.rps, r.p50, r.p95, r.p99, r.errors, r.peakRssMiB].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-bench-'));
  const pgdb = dbKind === 'postgres' ? await createScratchDatabase(process.env.TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test', 'aitbc_bench') : null;
  const adminKey = `bench-admin-${process.pid}`;
  const server = await spawnServer({ HOST: '127.0.0.1', DATABASE_URL: pgdb?.url ?? '', AITBC_DATA_DIR: dataDir, AITBC_ADMIN_API_KEYS: adminKey, LOG_LEVEL: 'warn' });
  const { url, pid } = server;
  try {
    const issued = await fetch(`${url}/api/v1/keys`, {
      method: 'POST',
      headers: { 'x-api-key': adminKey, 'content-type': 'application/json' },
      body: JSON.stringify({ owner_id: 'bench' }),
    });
    const key = ((await issued.json()) as { key: string }).key;
    const auth = { 'x-api-key': key };
    let n = 0;
    const rows: Row[] = [];
    rows.push(await run('agent.register', url, pid, { method: 'POST', path: '/api/v1/agents', body: () => JSON.stringify({ name: `agent-${n++}`, capabilities: ['gpu', 'llm'] }) }, auth));
    const first = (await (await fetch(`${url}/api/v1/agents?limit=1`, { headers: auth })).json()) as { agents: { id: string }[]; total_count: number };
    rows.push(await run(`agent.list (${first.total_count} agents, 20/page)`, url, pid, { method: 'GET', path: '/api/v1/agents?limit=20' }, auth));
    rows.push(await run('agent.get', url, pid, { method: 'GET', path: `/api/v1/agents/${first.agents[0]!.id}` }, auth));
    rows.push(await run('healthz', url, pid, { method: 'GET', path: '/healthz' }, {}));

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
      quick,
      connections: CONNECTIONS,
      seconds_per_scenario: SECONDS,
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? null, memory_gib: Math.round(totalmem() / 2 ** 30), node: process.version },
      scenarios: rows,
    };
    writeFileSync(join(root, 'bench/results/latest.json'), JSON.stringify(report, null, 2) + '\n');
    process.stdout.write(`\naitbc-swarm bench: ${dbKind}, ${CONNECTIONS} connections, ${SECONDS}s per scenario, commit ${commit ?? 'unknown'}\n\n${table(rows)}\n\n`);
    const errors = rows.reduce((s, r) => s + r.errors, 0);
    if (errors > 0) {
      process.stderr.write(`bench: ${errors} requests failed\n`);
      process.exitCode = 1;
    }
  } finally {
    await server.stop();
    await pgdb?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();

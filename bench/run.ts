/**
 * `pnpm bench [--db sqlite|postgres] [--quick] [--instances N] [--only name,name] [--cpu-prof] [--pg-private]`
 *
 * Starts real server processes on a fresh database and drives them over
 * loopback HTTP (autocannon for single requests, a keep-alive HTTP driver for
 * the multi-step scenarios), never in-process. Prints one table (throughput,
 * p50/p95/p99 latency, errors, the servers' peak RSS so far) and writes
 * bench/results/latest.json with the machine and the commit. `--quick` is the
 * short version CI runs: small sizes, one second per scenario, and it fails
 * on any error. The scenarios are bench/scenarios/ (the list: index.ts); see
 * bench/README.md for what each means. `--pg-private` runs PostgreSQL in a
 * cluster of its own with pg_stat_statements and prints where its time goes
 * around the work path (bench/statement-profile.ts).
 */
import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createScratchDatabase } from '../apps/server/src/db/scratch-database.ts';
import { call } from './api.ts';
import { type ProfiledCluster, startProfiledCluster } from './private-postgres.ts';
import { type Row, table } from './row.ts';
import type { BenchContext } from './scenario.ts';
import { scenarios } from './scenarios/index.ts';
import { root, startServers } from './servers.ts';
import { benchSettings } from './settings.ts';
import { type StatementProfile, statementTable } from './statement-profile.ts';

const settings = benchSettings(process.argv.slice(2));

/**
 * What a run must not leave behind (its servers, its scratch database, the private cluster), last first. A crash
 * (an error event nobody listens for) or Ctrl-C skips the run's `finally`: these handlers do the same.
 */
const leftovers: (() => Promise<unknown>)[] = [];
async function cleanUp(): Promise<void> {
  while (leftovers.length) await leftovers.pop()!().catch(() => undefined);
}
const abandon = (code: number) => () => void cleanUp().finally(() => process.exit(code));
process.once('uncaughtException', (error) => {
  console.error(error);
  abandon(1)();
});
process.once('SIGINT', abandon(130));

async function main() {
  const unknown = settings.only?.filter((name) => !scenarios.some((s) => s.name === name)) ?? [];
  if (unknown.length) throw new Error(`--only: no scenario ${unknown.join(', ')} (there are ${scenarios.map((s) => s.name).join(', ')})`);
  const privateCluster: ProfiledCluster | null = settings.pgPrivate ? await startProfiledCluster() : null;
  if (privateCluster) leftovers.push(() => privateCluster.stop());
  try {
    await bench(privateCluster);
  } finally {
    await cleanUp();
  }
}

async function bench(privateCluster: ProfiledCluster | null) {
  const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-bench-'));
  leftovers.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  const clusterUrl = privateCluster?.cluster.url() ?? (process.env.TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test');
  const pgdb = settings.db === 'postgres' ? await createScratchDatabase(clusterUrl, 'aitbc_bench') : null;
  if (pgdb) leftovers.push(() => pgdb.drop());
  const adminKey = `bench-admin-${process.pid}`;
  const env = {
    HOST: '127.0.0.1',
    DATABASE_URL: pgdb?.url ?? '',
    AITBC_DATA_DIR: dataDir,
    AITBC_ADMIN_API_KEYS: adminKey,
    LOG_LEVEL: 'warn',
    AITBC_RATE_LIMIT: 'off',
  };
  const servers = await startServers(env, settings.instances, settings.cpuProf);
  leftovers.push(() =>
    Promise.all(
      servers.map((s) => {
        // A server's errors (a 500's cause, logged at error level) are printed as it stops: the table only counts them.
        const errors = s
          .output()
          .split('\n')
          .filter((line) => /"level":(50|60)/.test(line));
        for (const line of errors.slice(0, 5)) console.error(`server ${s.pid}: ${line.slice(0, 2000)}`);
        return s.stop();
      }),
    ),
  );
  const base = servers[0]!.url;
  const rows: Row[] = [];
  const notes: string[] = [];
  const statementProfiles: StatementProfile[] = [];
  try {
    const key = (await call<{ key: string }>(base, adminKey, 'POST', '/api/v1/keys', { owner_id: 'bench' })).key;
    const ctx: BenchContext = {
      settings,
      servers,
      base,
      key,
      adminKey,
      dataDir,
      postgres: pgdb
        ? {
            url: pgdb.url,
            clusterUrl,
            probeUrl: privateCluster?.probeUrl(new URL(pgdb.url).pathname.slice(1)) ?? pgdb.url,
            profiler: privateCluster?.profiler ?? null,
          }
        : null,
      rows,
      notes,
      ceilings: [],
      statementProfiles,
    };
    for (const scenario of scenarios) if (!settings.only || settings.only.includes(scenario.name)) await scenario.run(ctx);

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
      db: settings.db,
      instances: settings.instances,
      quick: settings.quick,
      connections: settings.connections,
      seconds_per_scenario: settings.seconds,
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? null, memory_gib: Math.round(totalmem() / 2 ** 30), node: process.version },
      scenarios: rows,
      notes,
      ceilings: ctx.ceilings,
      statement_profiles: statementProfiles,
    };
    writeFileSync(join(root, `bench/results/${settings.quick ? 'quick' : 'latest'}.json`), JSON.stringify(report, null, 2) + '\n');
    process.stdout.write(
      `\naitbc-swarm bench: ${settings.db}${privateCluster ? ' (private cluster)' : ''}, ${settings.instances} instance(s), ${settings.connections} connections, ${settings.seconds}s per scenario, commit ${commit ?? 'unknown'}\n\n${table(rows)}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`,
    );
    for (const p of statementProfiles)
      process.stdout.write(
        `\nPostgreSQL's top statements by time, ${p.scenario} (pg_stat_statements; ↳ ran inside another):\n${statementTable(p)}\n`,
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
    // The servers stopped, the scratch database dropped, the data directory removed (and the private cluster after).
    await cleanUp();
  }
}

await main();

// A private PostgreSQL cluster for fault injection: its own data directory in
// a temporary directory and its own free port, so a test can restart, crash,
// pause and reconfigure it without touching the shared test database. Made
// with Debian's initdb and pg_ctl; as root they run as the postgres user
// (initdb refuses to run as root), in a directory that user owns.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
const BIN = process.env.AITBC_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Why a private cluster cannot be made here (no binaries, no postgres user), or null when it can. */
export function privateClusterUnavailable(): string | null {
  if (!existsSync(join(BIN, 'initdb')) || !existsSync(join(BIN, 'pg_ctl'))) return `no initdb/pg_ctl in ${BIN} (set AITBC_PG_BIN)`;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root and there is no postgres user to run initdb as';
    }
  }
  return null;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface PrivateCluster {
  port: number;
  /** A URL for `database` (default postgres) on this cluster. */
  url(database?: string): string;
  /** A new empty database; returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** One statement as the superuser on the postgres database; its rows. */
  query<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
  /** `pg_ctl restart -m fast|immediate`: connections are cut, the cluster comes back on the same port. */
  restart(mode: 'fast' | 'immediate'): Promise<void>;
  /** SIGSTOP the postmaster and every backend: connections stay open and nothing answers. */
  pause(): Promise<void>;
  /** SIGCONT them. */
  resume(): Promise<void>;
  /**
   * pg_terminate_backend for every client backend of `database` (and, if given, only those with this
   * application_name); the tests' own connections (application_name aitbc-test…) are spared.
   */
  terminateBackends(database: string, applicationName?: string): Promise<number>;
  /** The cluster's log so far. */
  log(): string;
  /** Stops it (immediate) and deletes its directory. */
  destroy(): Promise<void>;
}

export interface ClusterSettings {
  /** fsync, synchronous_commit and full_page_writes left on, as PostgreSQL ships them (the bench measures durable commits). */
  durable?: boolean;
  /** More server settings, each passed as `-c name=value` (values without spaces), e.g. shared_preload_libraries. */
  settings?: Record<string, string>;
}

/**
 * initdb, then start on a free port; fsync off unless `durable` (the tests crash it on purpose, durability is
 * not what they measure).
 */
export async function startPrivateCluster({ durable = false, settings = {} }: ClusterSettings = {}): Promise<PrivateCluster> {
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'aitbc-pg-'));
  chmodSync(dir, 0o755);
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const as = (bin: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(BIN, bin), ...args]) : run(join(BIN, bin), args);
  await as('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const durability = durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
  const extra = Object.entries(settings)
    .map(([name, value]) => ` -c ${name}=${value}`)
    .join('');
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1${durability} -c max_connections=200${extra}`;
  const pgCtl = (...args: string[]) => as('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', ...args]);
  await pgCtl('-o', options, 'start');
  const url = (database = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${database}`;

  async function query<T>(text: string, values: unknown[] = []): Promise<T[]> {
    // Writable even while the cluster's sessions default to read-only; never among the backends a test terminates.
    const client = new pg.Client({
      connectionString: url(),
      connectionTimeoutMillis: 10_000,
      application_name: 'aitbc-test-admin',
      options: '-c default_transaction_read_only=off',
    });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query(text, values)).rows as T[];
    } finally {
      await client.end().catch(() => {});
    }
  }

  const postmaster = () => Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  /** The postmaster's children (backends and background processes). */
  const children = (parent: number): number[] =>
    execFileSync('ps', ['-o', 'pid=', '--ppid', String(parent)])
      .toString()
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  let paused: number[] = [];
  /** A signal to a process that may have ended meanwhile (a backend exiting as it is listed). */
  const signal = (pid: number, name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };

  return {
    port,
    url,
    query,
    async createDatabase(name) {
      await query(`CREATE DATABASE "${name}"`);
      return url(name);
    },
    async restart(mode) {
      await pgCtl('-m', mode, '-o', options, 'restart');
    },
    async pause() {
      // The postmaster first, so it forks no child after the list is read.
      const parent = postmaster();
      signal(parent, 'SIGSTOP');
      paused = [parent, ...children(parent)];
      for (const pid of paused.slice(1)) signal(pid, 'SIGSTOP');
    },
    async resume() {
      for (const pid of paused) signal(pid, 'SIGCONT');
      paused = [];
    },
    async terminateBackends(database, applicationName) {
      const rows = await query<{ ended: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
          WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
            AND application_name NOT LIKE 'aitbc-test%' AND ($2::text IS NULL OR application_name = $2)`,
        [database, applicationName ?? null],
      );
      return rows.filter((r) => r.ended).length;
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    async destroy() {
      for (const pid of paused) signal(pid, 'SIGCONT');
      await pgCtl('-m', 'immediate', 'stop').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import './v8-flags.ts';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { skewForTests } from './clock.ts';
import { loadConfig, type ServerConfig } from './config.ts';
import { databaseFault, uncaughtFaults } from './db/faults.ts';
import { startServer, type RunningServer } from './server.ts';
import type { AdminKeyBootstrap } from './auth/bootstrap.ts';
import type { DatabaseTarget } from './db/target.ts';

/** Longest a shutdown may take (close waits at most 2 s for open connections; the rest is quick). */
const SHUTDOWN_LIMIT_MS = 15_000;

/**
 * The last resort: a database error that reached no listener (a connection
 * path without one, a promise nobody awaited) is logged loudly and counted
 * (/metrics: aitbc_database_uncaught_errors_total) instead of ending the
 * process; the connection it came from is already gone, and the pool makes
 * another. Every such line is a bug to fix where the error arose. Any other
 * uncaught error ends the process as Node would.
 */
function guardDatabaseFaults(log: () => { error(obj: unknown, msg: string): void } | null): void {
  process.on('uncaughtException', (error, origin) => {
    if (databaseFault(error)) {
      uncaughtFaults.total++;
      const line = `a database error reached no listener (${origin}); the process goes on, but this is a bug: ${error.message}`;
      const logger = log();
      if (logger) logger.error({ err: error }, line);
      else process.stderr.write(`aitbc-server: ${line}\n`);
      return;
    }
    process.stderr.write(`${origin === 'unhandledRejection' ? 'Unhandled rejection' : 'Uncaught exception'}: ${inspect(error)}\n`);
    process.exit(1);
  });
}

/** `pnpm start` and `aitbc server start`: the server in the foreground until SIGINT/SIGTERM. */
export async function serve(config?: ServerConfig): Promise<void> {
  // Tests only (AITBC_TEST_CLOCK_OFFSET_MS under a test runner): this process plays a machine whose clock is off.
  skewForTests();
  let started: RunningServer | null = null;
  guardDatabaseFaults(() => started?.app.log ?? null);
  let server: RunningServer;
  try {
    server = await startServer(config ?? loadConfig());
  } catch (error) {
    process.stderr.write(`aitbc-server: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  started = server;
  const log = server.app.log;
  // Handlers first, banner last: whoever waits for "API:" may signal us at once.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `shutting down (${signal})`);
    // Log lines are written asynchronously: the last ones are out before the process exits (or half a second passed).
    const exit = (code: number) => {
      process.exitCode = code;
      setTimeout(() => process.exit(code), 500).unref();
      (log as { flush?: (cb: () => void) => void }).flush?.(() => process.exit(code));
    };
    // This timer also holds the event loop open while closing waits on unref'd things (the SQLite checkpoint
    // thread's exit): without it the process could end mid-shutdown, before "stopped".
    const watchdog = setTimeout(() => {
      log.error(`shutdown took over ${SHUTDOWN_LIMIT_MS / 1000} s; exiting`);
      exit(1);
    }, SHUTDOWN_LIMIT_MS);
    server.close().then(
      () => {
        clearTimeout(watchdog);
        log.info('stopped');
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(watchdog);
        log.error({ err }, 'stopped with an error');
        exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  if (server.migrations.length) log.info({ migrations: server.migrations }, `applied ${server.migrations.length} database migration(s)`);
  // One line that says where: the URL, the database, the admin key (its file, never the key).
  const database = describeDatabase(server.db.target);
  const adminKey = describeAdminKey(server.adminKey);
  log.info({ url: server.url, database, adminKey }, `listening on ${server.url} (${database}; ${adminKey})`);
  process.stdout.write(
    `${adminKeyNotice(server)}\n  API:  ${server.url}   docs: ${server.url}/docs   health: ${server.url}/healthz\n\n${clientSetup(server)}\n`,
  );
}

/**
 * What the CLI in another terminal needs, as lines to paste: this server's URL
 * (the CLI's default is port 8000 on 127.0.0.1) and where the admin key is
 * (its real path: `data/admin.key` holds only from the repository root with
 * the default AITBC_DATA_DIR).
 */
export function clientSetup(server: Pick<RunningServer, 'url' | 'adminKey'>): string {
  const a = server.adminKey;
  const key =
    a.kind === 'created' || (a.kind === 'existing' && a.file)
      ? `export AITBC_API_KEY=$(cat ${shellWord(a.file!)})   # the admin key: it issues keys`
      : a.kind === 'configured'
        ? 'export AITBC_API_KEY=…   # one of AITBC_ADMIN_API_KEYS'
        : undefined;
  return [
    '  In another terminal:',
    `    export AITBC_URL=${reachableUrl(server.url)}`,
    ...(key ? [`    ${key}`] : []),
    '    pnpm aitbc keys create --owner alice -q   # a key for a user',
    '',
  ].join('\n');
}

/** A server bound to every address (0.0.0.0, ::) is reached on loopback from this machine. */
function reachableUrl(url: string): string {
  return url.replace(/^http:\/\/(0\.0\.0\.0|\[::\])(?=:)/, 'http://127.0.0.1');
}

/** A path as one shell word: quoted when it has anything a shell would split or expand. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

/** `sqlite /path/aitbc.db` or `postgresql://user@host:5432/db` (no password, no parameters). */
function describeDatabase(target: DatabaseTarget): string {
  if (target.provider === 'sqlite') return `sqlite ${target.file}`;
  try {
    const u = new URL(target.url);
    return `postgresql://${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'postgresql';
  }
}

function describeAdminKey(a: AdminKeyBootstrap): string {
  switch (a.kind) {
    case 'created':
      return `admin key created, in ${a.file}`;
    case 'existing':
      return a.file ? `admin key in ${a.file}` : 'admin key issued earlier, its file is gone';
    case 'configured':
      return 'admin keys from AITBC_ADMIN_API_KEYS';
    case 'none':
      return 'no admin key: set AITBC_ADMIN_API_KEYS';
  }
}

function adminKeyNotice(server: RunningServer): string {
  const a = server.adminKey;
  switch (a.kind) {
    case 'created': {
      const line = '='.repeat(78);
      return [
        '',
        line,
        '  FIRST START: an admin API key was created. It is shown only this once.',
        '',
        `    ${a.key}`,
        '',
        `  It is also saved (mode 0600) in ${a.file}`,
        line,
      ].join('\n');
    }
    case 'existing':
      return a.file
        ? `\n  Admin key: in ${a.file}`
        : '\n  Admin key: already issued (its file is gone; revoke it and issue another if it is lost)';
    case 'configured':
      return '\n  Admin keys: from AITBC_ADMIN_API_KEYS';
    case 'none':
      return '\n  WARNING: no admin key. Set AITBC_ADMIN_API_KEYS to create API keys for users.';
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await serve();

// The published form of the CLI, installed the way a GPU host installs it:
// `pnpm pack`, then `npm install -g` of the tarball into a temporary prefix,
// offline and with an empty npm cache (the package has no dependencies to
// fetch), and the installed `aitbc` run with plain Node against a real
// server: whoami, agents, a network task done by `aitbc agent work`, a swarm
// task done by `aitbc swarm work`. `aitbc server start` says the server is a
// separate package.
import { type ChildProcessByStdio, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AgentList, CoordinateView, ExecutionView, JoinView, TaskStatusView } from '@aitbc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/support/server.ts';
import { type CliRun, closedPort, finished, ok, tempHome, until } from './support/aitbc.ts';

const run = promisify(execFile);

/** The pnpm that runs the tests (`pnpm test` sets npm_execpath), or the one on PATH. */
const execpath = process.env.npm_execpath ?? '';
const pnpm: [string, string[]] = /pnpm[^/\\]*\.c?js$/.test(execpath) ? [process.execPath, [execpath]] : ['pnpm', []];
const cliDir = fileURLToPath(new URL('..', import.meta.url));
const version = (JSON.parse(readFileSync(join(cliDir, 'package.json'), 'utf8')) as { version: string }).version;
const doubleItems = fileURLToPath(new URL('./fixtures/double-items.mjs', import.meta.url));
const swarmAnswer = fileURLToPath(new URL('./fixtures/swarm-answer.mjs', import.meta.url));

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

describe('the packed CLI, installed with npm install -g', () => {
  let tmp: string;
  let prefix: string;
  let srv: TestServer;
  const home = tempHome();
  let env: Record<string, string>;
  const children: ChildProcessByStdio<null, Readable, Readable>[] = [];

  /** The installed `aitbc`, with only node on PATH: nothing of the workspace within reach. */
  function spawnInstalled(args: string[], extraEnv: Record<string, string> = {}) {
    const child = spawn(join(prefix, 'bin', 'aitbc'), args, {
      cwd: home.home,
      env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: home.home, ...env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    return child;
  }
  function installed(args: string[], extraEnv: Record<string, string> = {}): Promise<CliRun> {
    return finished(spawnInstalled(args, extraEnv));
  }
  const json = async <T>(args: string[]): Promise<T> => JSON.parse(ok(await installed([...args, '-o', 'json']))) as T;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'aitbc-cli-pack-'));
    prefix = join(tmp, 'prefix');
    // `prepack` bundles dist/aitbc.mjs (scripts/bundle.mjs) before pnpm packs it.
    await run(pnpm[0], [...pnpm[1], 'pack', '--pack-destination', join(tmp, 'packs')], { cwd: cliDir });
    const [tarball] = readdirSync(join(tmp, 'packs'));
    if (tarball === undefined) throw new Error('pnpm pack made no tarball');
    await run(
      'npm',
      ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '--loglevel=error', join(tmp, 'packs', tarball)],
      { cwd: tmp, env: { ...process.env, npm_config_cache: join(tmp, 'npm-cache') } },
    );
    srv = await startTestServer('sqlite');
    env = { AITBC_URL: srv.url, AITBC_API_KEY: await srv.keyFor('alice') };
  }, 120_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await srv?.close();
    home.remove();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('installs one bundled file and no dependencies: no server, no Prisma, no native module, no TypeScript', () => {
    const packageDir = join(prefix, 'lib', 'node_modules', '@aitbc', 'cli');
    expect(filesUnder(packageDir).sort()).toEqual(['dist/THIRD-PARTY-LICENSES.txt', 'dist/aitbc.mjs', 'package.json']);
    const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
    expect(manifest.bin).toEqual({ aitbc: './dist/aitbc.mjs' });
    expect(manifest.dependencies).toBeUndefined();
    // Nothing else was installed under the prefix.
    const everything = filesUnder(prefix);
    expect(everything.filter((f) => /prisma|better-sqlite3|@aitbc\/server|\/tsx\/|\.node$/.test(f))).toEqual([]);
    expect(everything.filter((f) => f.endsWith('.ts'))).toEqual([]);
    expect(readdirSync(join(prefix, 'lib', 'node_modules'))).toEqual(['@aitbc']);
    expect(statSync(join(prefix, 'bin', 'aitbc')).mode & 0o111).not.toBe(0);
  });

  it('prints its version, and says where the server is rather than starting one', async () => {
    const v = await installed(['--version']);
    expect(v).toMatchObject({ code: 0, stdout: `${version}\n` });

    const start = await installed(['server', 'start', '--port', '0']);
    expect(start.code).not.toBe(0);
    expect(start.stdout).toBe('');
    expect(start.stderr).toMatch(/^aitbc: the coordination server is not part of this installation/);
    expect(start.stderr).toContain('separate package');
    expect(start.stderr).toContain('npx -y pnpm@10.34.8 start');
    expect(start.stderr).not.toMatch(/ERR_|at .*\.mjs:\d+/);
  });

  it('talks to a server: whoami, agents', async () => {
    expect(await json<{ owner_id: string }>(['keys', 'whoami'])).toMatchObject({ owner_id: 'alice' });
    ok(await installed(['agent', 'register', '--name', 'gpu-1', '--capabilities', 'gpu']));
    const { agents } = await json<AgentList>(['agent', 'list']);
    expect(agents.map((a) => a.name)).toEqual(['gpu-1']);
    expect(ok(await installed(['agent', 'list']))).toMatch(/gpu-1/);

    // A server that is not there: the usual one-line message, exit 1.
    const down = await installed(['agent', 'list'], { AITBC_URL: 'http://127.0.0.1:1' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^aitbc: cannot reach http:\/\/127\.0\.0\.1:1/);
    // Refused: the hint names where the URL comes from, not `pnpm start` (this installation has no server to start).
    const port = await closedPort();
    const refused = await installed(['agent', 'list'], { AITBC_URL: `http://127.0.0.1:${port}` });
    expect(refused.stderr).toBe(
      `aitbc: cannot reach http://127.0.0.1:${port}: connection refused — is a server running at that address? (AITBC_URL or --url says where it is; a server prints its URL when it starts)\n`,
    );
  });

  it('aitbc agent work does a network’s task', async () => {
    const log = join(home.home, 'agent-work.log');
    writeFileSync(log, '');
    spawnInstalled(['agent', 'work', '--agent', 'gpu-1', '--exec', `"${process.execPath}" "${doubleItems}"`, '--poll-interval', '0.1'], {
      WORK_LOG: log,
    });
    const network = await json<{ id: string }>(['agent', 'network', 'create', '--name', 'packed', '--agents', 'gpu-1', '--no-speculation']);
    const taskFile = join(home.home, 'task.json');
    writeFileSync(taskFile, JSON.stringify({ items: [1, 2, 3, 4, 5], reduce: 'sum' }));
    const execution = await json<ExecutionView>([
      'agent',
      'network',
      'execute',
      network.id,
      '--task',
      taskFile,
      '--wait',
      '--interval',
      '0.1',
    ]);
    expect(execution.status).toBe('completed');
    expect(execution.results).toMatchObject({ reduce: 'sum', reduced: 30 });
    const processed = readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => Number(l.split(' ')[3]));
    expect(processed.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
  });

  it('aitbc swarm join, coordinate, work and status', async () => {
    const log = join(home.home, 'swarm-work.log');
    writeFileSync(log, '');
    const joined = await json<JoinView>(['swarm', 'join', '--role', 'monitor', '--capability', 'packed']);
    spawnInstalled(
      ['swarm', 'work', '--member', joined.member_id, '--exec', `"${process.execPath}" "${swarmAnswer}"`, '--poll-interval', '0.1'],
      {
        WORK_LOG: log,
      },
    );
    const coordinated = await json<CoordinateView>([
      'swarm',
      'coordinate',
      '--strategy',
      'map-reduce',
      '--capability',
      'packed',
      '--collaborators',
      '1',
      '--items',
      '[1, 2, 3]',
      '--reduce',
      'sum',
    ]);
    const done = await until(`task ${coordinated.task_id} to finish`, async () => {
      const t = await json<TaskStatusView>(['swarm', 'status', coordinated.task_id]);
      return ['completed', 'failed', 'cancelled', 'timed_out'].includes(t.status) ? t : undefined;
    });
    expect(done.status).toBe('completed');
    expect(done.result).toMatchObject({ reduce: 'sum', reduced: 12 });
    expect(ok(await installed(['swarm', 'status', coordinated.task_id]))).toMatch(/^reduced: +12$/m);
  });
});

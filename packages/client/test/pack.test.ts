// The published form of @aitbc/client, used the way an agent author would use
// it: `pnpm pack`, then `npm install` of the tarball into a project outside
// the workspace (its dependencies from the npm registry), a small strict
// TypeScript program type-checked against the packed declarations, compiled,
// and run against a real server: whoami, an agent, a network, a task, and a
// worker that does it. Then what a new user does: a file checked with `tsc`
// and no tsconfig at all, and the repository's examples/ as they are.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../apps/server/test/support/server.ts';

const run = promisify(execFile);

/** The pnpm that runs the tests (`pnpm test` sets npm_execpath), or the one on PATH. */
const execpath = process.env.npm_execpath ?? '';
const pnpm: [string, string[]] = /pnpm[^/\\]*\.c?js$/.test(execpath) ? [process.execPath, [execpath]] : ['pnpm', []];
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const examplesDir = fileURLToPath(new URL('../../../examples', import.meta.url));
/** The consumer's TypeScript: the workspace's version (left to itself, npm would add the newest for @trpc's peer dependency). */
const typescript = (createRequire(import.meta.url)('typescript/package.json') as { version: string }).version;

/** Runs a command; on failure the error carries its output. */
async function sh(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  try {
    return await run(file, args, { cwd, env, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    outDir: 'out',
    types: ['node'],
  },
  include: ['src'],
};

const PROGRAM = `
import { type AitbcClient, createClient, createWorker, describeError, type WorkerJob } from '@aitbc/client';

const url = process.env.AITBC_URL ?? '';
const apiKey = process.env.AITBC_API_KEY ?? '';
const client: AitbcClient = createClient({ url, apiKey });

const me = await client.key.whoami.query({});
const owner: string = me.owner_id;

const agent = await client.agent.register.mutate({ name: 'packed-agent', capabilities: ['double'] });
const network = await client.network.create.mutate({ name: 'packed-network', agents: [agent.id] });
const execution = await client.execution.execute.mutate({
  network_id: network.id,
  task: { items: [1, 2, 3, 4], chunk_size: 1, reduce: 'sum' },
});

const worker = createWorker({
  url,
  apiKey,
  agent: agent.id,
  concurrency: 2,
  handler: async (payload: unknown, job: WorkerJob) => {
    const items = (payload as { items: number[] }).items;
    return items.reduce((sum, x) => sum + 2 * x, 0) + (job.signal.aborted ? 1000 : 0);
  },
});
const running = worker.run();
let status: string = execution.status;
let reduced: unknown;
for (const end = Date.now() + 20_000; Date.now() < end; ) {
  const view = await client.execution.get.query({ network_id: network.id, execution_id: execution.id });
  status = view.status;
  reduced = view.results?.reduced;
  if (status === 'completed' || status === 'failed') break;
  await new Promise((r) => setTimeout(r, 50));
}
worker.stop();
const summary = await running;

let missing = '';
try {
  await client.agent.get.query({ agent_id: '00000000-0000-4000-8000-000000000000' });
} catch (error) {
  missing = describeError(error).code;
}

console.log(JSON.stringify({ owner, agent: agent.name, status, reduced, summary, missing }));
`;

/** Calls the server's router does not accept, and a result's field misread: the packed types must say so. */
const WRONG = `
import { createClient } from '@aitbc/client';
const client = createClient({ url: 'http://127.0.0.1:1' });
await client.agent.register.mutate({ nam: 'x' });
const agent = await client.agent.get.query({ agent_id: 'a1' });
const name: number = agent.name;
await client.execution.execute.mutate({ network_id: 'n1', task: { items: [1, 2], chunkSize: 1, reduce: 'sum' } });
export { name };
`;

/**
 * A file as a new user writes it in an `npm init -y` project and checks with `tsc --noEmit main.ts`: no tsconfig, so
 * TypeScript's defaults (CommonJS, no esModuleInterop, library checks on). The one mistake in it must be the one error.
 */
const PLAIN = `
import { createClient } from '@aitbc/client';
const client = createClient({ url: 'http://127.0.0.1:8000', apiKey: 'k' });
client.network.execute.mutate({ network_id: 'n1', task: { items: [1, 2] } }).then(console.log);
`;

describe('the packed @aitbc/client', () => {
  let srv: TestServer;
  let key: string;
  let project: string;
  let tarball: string;
  let tsc: string;

  beforeAll(async () => {
    project = mkdtempSync(join(tmpdir(), 'aitbc-client-consumer-'));
    const packs = join(project, 'packs');
    // `prepack` builds dist/ (scripts/build.mjs) before pnpm packs it.
    await sh(pnpm[0], [...pnpm[1], 'pack', '--pack-destination', packs], packageDir);
    const file = readdirSync(packs).find((f) => f.endsWith('.tgz'));
    if (file === undefined) throw new Error('pnpm pack made no tarball');
    tarball = join(packs, file);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    // The tarball and its dependencies from the npm registry; @types/node for the program's `process`.
    await sh(
      'npm',
      ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball, '@types/node@20', `typescript@${typescript}`],
      project,
    );
    tsc = join(project, 'node_modules/typescript/bin/tsc');
    srv = await startTestServer('sqlite');
    key = await srv.keyFor('packed');
  }, 180_000);

  afterAll(async () => {
    await srv?.close();
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('has compiled JavaScript and bundled declarations, and depends on npm packages only', () => {
    const installed = join(project, 'node_modules/@aitbc/client');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    expect(manifest.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });
    // Real npm packages only: @aitbc/core is bundled in, the server is only types (inlined).
    expect(Object.keys(manifest.dependencies)).toEqual(expect.arrayContaining(['@trpc/client', '@trpc/server', 'zod']));
    expect(Object.keys(manifest.dependencies).filter((d) => d.startsWith('@aitbc/'))).toEqual([]);
    expect(JSON.stringify(manifest.dependencies)).not.toContain('workspace:');
    expect(readdirSync(installed).sort()).toEqual(['dist', 'package.json']);
    expect(readdirSync(join(installed, 'dist')).sort()).toEqual(['index.d.ts', 'index.js']);
    const types = readFileSync(join(installed, 'dist/index.d.ts'), 'utf8');
    expect(types).not.toMatch(/@aitbc\/|apps\/server|\.ts['"]|fastify|prisma/i);
    expect(types).toContain('declare function createWorker');
    // Nothing of the server came with it.
    expect(existsSync(join(project, 'node_modules/@aitbc/server'))).toBe(false);
    expect(existsSync(join(project, 'node_modules/@prisma'))).toBe(false);
    expect(existsSync(join(project, 'node_modules/better-sqlite3'))).toBe(false);
  });

  it('type-checks a strict program, rejects a wrong call, and runs it against a server', async () => {
    const src = join(project, 'src');
    rmSync(src, { recursive: true, force: true });
    mkdirSync(src);
    writeFileSync(join(src, 'wrong.ts'), WRONG);
    const wrong = await sh(process.execPath, [tsc, '-p', '.', '--noEmit'], project).then(
      () => '',
      (error: Error) => error.message,
    );
    expect(wrong).toMatch(/src\/wrong\.ts\(4,\d+\): error TS2561: .*'nam' does not exist in type '\{ name: string;/);
    expect(wrong).toMatch(/src\/wrong\.ts\(6,7\): error TS2322: Type 'string' is not assignable to type 'number'/);
    expect(wrong).toMatch(
      /src\/wrong\.ts\(7,\d+\): error TS2561: .*'chunkSize' does not exist in type 'ItemsTask'. Did you mean to write 'chunk_size'\?/,
    );
    expect(wrong.match(/error TS/g)).toHaveLength(3);
    rmSync(join(src, 'wrong.ts'));

    writeFileSync(join(src, 'main.ts'), PROGRAM);
    await sh(process.execPath, [tsc, '-p', '.'], project);
    const { stdout } = await sh(process.execPath, ['out/main.js'], project, {
      PATH: process.env.PATH ?? '',
      AITBC_URL: srv.url,
      AITBC_API_KEY: key,
    });
    expect(JSON.parse(stdout)).toEqual({
      owner: 'packed',
      agent: 'packed-agent',
      status: 'completed',
      reduced: 2 * (1 + 2 + 3 + 4),
      summary: { claimed: 4, completed: 4, failed: 0, lost: 0 },
      missing: 'NOT_FOUND',
    });
  });
  it("type-checks with TypeScript's defaults: no tsconfig (only the file's own mistake is reported), and tsc --init's", async () => {
    // An `npm init -y` project beside the first: no "type", no tsconfig; the package resolves from the parent's node_modules.
    const plain = join(project, 'plain');
    rmSync(plain, { recursive: true, force: true });
    mkdirSync(plain);
    writeFileSync(join(plain, 'package.json'), JSON.stringify({ name: 'plain', version: '1.0.0', main: 'index.js' }));
    writeFileSync(join(plain, 'main.ts'), PLAIN);
    const output = await sh(process.execPath, [tsc, '--noEmit', 'main.ts'], plain).then(
      () => '',
      (error: Error) => error.message,
    );
    // Nothing from the package's declarations or their dependencies (zod's locales once gave some 60 TS1259 errors here).
    const errors = output.split('\n').filter((line) => /error TS\d+/.test(line));
    expect(errors, output).toHaveLength(1);
    expect(errors[0]).toMatch(/^main\.ts\(4,16\): error TS2339: Property 'execute' does not exist on type/);

    // The tsconfig `tsc --init` writes (exactOptionalPropertyTypes on, among others) in an ES module project: an optional
    // option may be given a value that may be undefined, as `process.env` gives it.
    const init = join(project, 'init');
    rmSync(init, { recursive: true, force: true });
    mkdirSync(init);
    writeFileSync(join(init, 'package.json'), JSON.stringify({ name: 'init', version: '1.0.0', type: 'module' }));
    await sh(process.execPath, [tsc, '--init', '--types', 'node'], init);
    expect(readFileSync(join(init, 'tsconfig.json'), 'utf8')).toMatch(/"exactOptionalPropertyTypes": true/);
    writeFileSync(
      join(init, 'main.ts'),
      "import { createClient } from '@aitbc/client';\n" +
        'const client = createClient({ url: process.env.AITBC_URL ?? "", apiKey: process.env.AITBC_API_KEY });\n' +
        'export const agents = await client.agent.list.query({ limit: 5 });\n',
    );
    await sh(process.execPath, [tsc, '-p', '.', '--noEmit'], init);
  });

  it("builds the repository's examples with their own tsconfig and runs them against a server", async () => {
    // examples/ as a user copies it: its package.json ("type": "module") and tsconfig.json, resolving the installed tarball.
    const examples = join(project, 'examples');
    rmSync(examples, { recursive: true, force: true });
    cpSync(examplesDir, examples, { recursive: true, filter: (path) => !/[/\\](dist|node_modules)$/.test(path) });
    await sh(process.execPath, [tsc, '-p', 'examples'], project);
    // The README's tsconfig for a project that uses the client is the examples' (less where they write their output).
    const readme = readFileSync(join(examplesDir, '../README.md'), 'utf8');
    const documented = JSON.parse(/```json\n(\{ "compilerOptions"[^\n]*\})\n```/.exec(readme)?.[1] ?? '{}');
    const { outDir: _, ...options } = JSON.parse(
      readFileSync(join(examplesDir, 'tsconfig.json'), 'utf8').replace(/^\s*\/\/.*$/gm, ''),
    ).compilerOptions;
    expect(documented.compilerOptions).toEqual(options);
    expect(JSON.parse(readFileSync(join(examplesDir, 'package.json'), 'utf8')).type).toBe('module');

    const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(srv.url + path, {
        method,
        headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };
    const env = { PATH: process.env.PATH ?? '', AITBC_URL: srv.url, AITBC_API_KEY: key };
    const example = (name: string, extra: Record<string, string>) =>
      spawn(process.execPath, [join(examples, 'dist', `${name}.js`)], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });

    // worker.ts and execute.ts: an agent's worker, and a task executed on its network and waited for.
    const agent = await api<{ id: string }>('POST', '/api/v1/agents', { name: 'example-agent' });
    const network = await api<{ id: string }>('POST', '/api/v1/agents/networks', { name: 'example-network', agents: [agent.id] });
    const worker = started(example('worker', { AGENT_ID: agent.id }));
    try {
      const { stdout } = await sh(process.execPath, [join(examples, 'dist/execute.js')], project, { ...env, NETWORK_ID: network.id });
      expect(JSON.parse(stdout)).toMatchObject({ status: 'completed', reduced: 2 * 55 });
    } finally {
      worker.process.kill('SIGTERM');
    }
    expect(await worker.exit).toBe(0);
    expect(JSON.parse(worker.stdout().trim())).toEqual({ claimed: 5, completed: 5, failed: 0, lost: 0 });

    // swarm-voter.ts: three members vote on a consensus task, two of them for 42; Ctrl-C makes them leave.
    const voters = ['42', '42', '41'].map((answer) => started(example('swarm-voter', { ANSWER: answer, CAPABILITY: 'examples' })));
    try {
      const joined = await Promise.all(voters.map((v) => v.firstLine().then((line) => JSON.parse(line) as { swarm_id: string })));
      const swarmId = joined[0]!.swarm_id;
      expect(joined.every((j) => j.swarm_id === swarmId)).toBe(true);
      // A member is active once its worker has claimed (a sign of life); coordinate selects active members only.
      for (const end = Date.now() + 30_000; ; ) {
        const { members } = await api<{ members: { status: string }[] }>('GET', `/swarm/${swarmId}/members`);
        if (members.length === 3 && members.every((m) => m.status === 'active')) break;
        if (Date.now() > end) throw new Error(`members not active: ${JSON.stringify(members)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const task = await api<{ task_id: string }>('POST', '/swarm/coordinate', {
        task: 'what is 6*7',
        strategy: 'consensus',
        collaborators: 3,
        timeout_seconds: 60,
      });
      let status: { status: string; result?: unknown } = { status: 'running' };
      for (const end = Date.now() + 30_000; status.status === 'running' || status.status === 'queued'; ) {
        if (Date.now() > end) throw new Error(`task not decided: ${JSON.stringify(status)}`);
        status = await api('GET', `/swarm/tasks/${task.task_id}/status?wait_seconds=5`);
      }
      expect(status).toMatchObject({ status: 'completed', result: { answer: 42 } });
    } finally {
      for (const v of voters) v.process.kill('SIGTERM');
    }
    for (const v of voters) {
      expect(await v.exit).toBe(0);
      expect(JSON.parse(v.stdout().trim().split('\n').at(-1)!)).toEqual({ claimed: 1, completed: 1, failed: 0, lost: 0 });
    }
    const { members } = await api<{ members: { status: string }[] }>(
      'GET',
      `/swarm/${(JSON.parse(voters[0]!.stdout().split('\n')[0]!) as { swarm_id: string }).swarm_id}/members`,
    );
    expect(members.map((m) => m.status)).toEqual(['left', 'left', 'left']);
  });
});

/** A started example: its output so far, its first line, and its exit code. */
function started(child: ChildProcess) {
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  // 'close', not 'exit': a process's last lines can still be in its pipe when 'exit' fires (a voter's summary was).
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    process: child,
    exit,
    stdout: () => out,
    firstLine: async () => {
      for (const end = Date.now() + 30_000; !out.includes('\n'); ) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`no output from the example: ${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return out.split('\n')[0]!;
    },
  };
}

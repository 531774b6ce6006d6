// The published form of @aitbc/client, used the way an agent author would use
// it: `pnpm pack`, then `npm install` of the tarball into a project outside
// the workspace (its dependencies from the npm registry), a small strict
// TypeScript program type-checked against the packed declarations, compiled,
// and run against a real server: whoami, an agent, a network, a task, and a
// worker that does it.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** A call the server's router does not accept, and a result's field misread: the packed types must say so. */
const WRONG = `
import { createClient } from '@aitbc/client';
const client = createClient({ url: 'http://127.0.0.1:1' });
await client.agent.register.mutate({ nam: 'x' });
const agent = await client.agent.get.query({ agent_id: 'a1' });
const name: number = agent.name;
export { name };
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
    expect(wrong.match(/error TS/g)).toHaveLength(2);
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
});

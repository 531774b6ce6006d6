/** The processes the bench drives: the compiled server (as `pnpm start` runs it) and the bare baselines beside it. */
import { execSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledServer, spawnServer } from '../apps/server/test/support/server-process.ts';

/** The repository's root. */
export const root = fileURLToPath(new URL('..', import.meta.url));

export interface Server {
  url: string;
  pid: number;
  output(): string;
  stop(): Promise<number | null>;
}

/** Compiles the server as `pnpm start` does and starts `count` of it; with `cpuProf`, each writes a V8 profile when it stops. */
export async function startServers(env: NodeJS.ProcessEnv, count: number, cpuProf: boolean): Promise<Server[]> {
  execSync('node scripts/bundle.mjs', { cwd: join(root, 'apps/server'), stdio: 'inherit' });
  const servers: Server[] = [];
  const profiling = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'bench/results/profiles')}`] : [];
  for (let i = 0; i < count; i++)
    servers.push(await spawnServer(env, { ...compiledServer, nodeArgs: [...compiledServer.nodeArgs, ...profiling] }));
  return servers;
}

/**
 * A baseline in its own process: bench/bare.mjs (node|fastify), or bench/plugin-probe.ts (a Fastify app with one
 * plugin); resolves with its URL and a stop function.
 */
export async function startBare(kind: string): Promise<{ url: string; pid: number; stop(): void }> {
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

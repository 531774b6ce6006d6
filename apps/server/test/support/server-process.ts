import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** `aitbc-server` from the TypeScript source, through tsx (`pnpm start` runs the same code compiled, see compiledServer). */
export const serverBin = fileURLToPath(new URL('../../bin/aitbc-server.mjs', import.meta.url));

export interface ListeningServer {
  /** The URL from the start-up banner (`API:  http://…`). */
  url: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Resolves once a server process (aitbc-server, or `aitbc server start`)
 * prints its banner; rejects with its output if it exits first or is slow.
 */
export function whenListening(child: ChildProcess, timeoutMs = 30_000): Promise<ListeningServer> {
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (d: Buffer | string) => {
      out += d;
      // The whitespace after the URL proves it arrived whole, not cut between chunks.
      const m = /API:\s+(http:\/\/\S+)\s/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        url: m[1]!,
        output: () => out,
        stop: (signal = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer | string) => (out += d));
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${out}`));
    });
  });
}

/** What `pnpm start` runs: the bundle `pnpm build` compiles, with the heap limit it sets. */
export const compiledServer = {
  bin: fileURLToPath(new URL('../../dist/aitbc-server.mjs', import.meta.url)),
  nodeArgs: ['--max-old-space-size=192', '--max-semi-space-size=8'],
};

/** Starts `aitbc-server` (by default from source) with these environment overrides (PORT 0 unless given) and waits for it. */
export function spawnServer(
  env: NodeJS.ProcessEnv,
  entry: { bin: string; nodeArgs: string[] } = { bin: serverBin, nodeArgs: [] },
): Promise<ListeningServer & { pid: number }> {
  const child = spawn(process.execPath, [...entry.nodeArgs, entry.bin], {
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return whenListening(child).then((server) => ({ ...server, pid: child.pid! }));
}

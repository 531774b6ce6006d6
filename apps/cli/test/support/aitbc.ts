// Runs the real `aitbc` executable as a user would: a separate node process,
// its own HOME, and only the environment a test gives it.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/aitbc.mjs', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time of the whole process, start to exit. */
  ms: number;
}

interface CliOptions {
  home: string;
  env?: Record<string, string>;
  cwd?: string;
}

/** The process itself, for commands that keep running (`server start`). */
export function spawnAitbc(args: string[], options: CliOptions): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, [bin, ...args], {
    cwd: options.cwd ?? options.home,
    env: { PATH: process.env.PATH ?? '', HOME: options.home, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function aitbc(args: string[], options: CliOptions): Promise<CliRun> {
  return finished(spawnAitbc(args, options));
}

/** A spawned CLI's exit code and output, once it has ended (`started`: when it was spawned, for `ms`). */
export function finished(child: ReturnType<typeof spawnAitbc>, started = performance.now()): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

/** A temporary HOME, optionally with ~/.aitbc/config.yaml. */
export function tempHome(configYaml?: string): { home: string; remove(): void } {
  const home = mkdtempSync(join(tmpdir(), 'aitbc-home-'));
  if (configYaml !== undefined) {
    mkdirSync(join(home, '.aitbc'));
    writeFileSync(join(home, '.aitbc', 'config.yaml'), configYaml);
  }
  return { home, remove: () => rmSync(home, { recursive: true, force: true }) };
}

/** A port nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A run's stdout, or an error with its stderr when it did not exit 0. */
export function ok(run: CliRun): string {
  if (run.code !== 0) throw new Error(`aitbc exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}

/** Polls `probe` every 100 ms until it returns something; fails after `timeoutMs`, naming `what`. */
export async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

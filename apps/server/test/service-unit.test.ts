// docs/aitbc-server.service, the systemd unit the README gives for running the
// server under a process manager. systemd is not here, so this does what it
// would: read the unit, start its ExecStart in its WorkingDirectory with its
// Environment (a temporary data directory and a free port instead of the
// unit's), then send its KillSignal to that one process, as `systemctl stop`
// does, and expect a clean exit within TimeoutStopSec with the port closed.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { whenListening } from './support/server-process.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const unitFile = join(repo, 'docs/aitbc-server.service');

/** The unit's settings by section: `Environment` may repeat, so every key is a list. Comments and blank lines dropped. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let section: Record<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = {};
      sections[header[1]!] = section;
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 1) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq);
    section[key] = [...(section[key] ?? []), line.slice(eq + 1)];
  }
  return sections;
}

const one = (values: string[] | undefined, what: string) => {
  if (values?.length !== 1) throw new Error(`the unit needs exactly one ${what}`);
  return values[0]!;
};

describe('docs/aitbc-server.service', () => {
  const unit = parseUnit(readFileSync(unitFile, 'utf8'));
  const service = unit['Service']!;
  const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-unit-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts the server process itself, which stops cleanly on the unit’s KillSignal', async () => {
    expect(Object.keys(unit).sort()).toEqual(['Install', 'Service', 'Unit']);
    const [executable, ...args] = one(service['ExecStart'], 'ExecStart').split(/\s+/);
    // The process systemd signals must be the server: a wrapper (npx, pnpm) would take the signal and leave it running.
    expect(executable).toBe('/usr/bin/node');
    expect(args.at(-1)).toBe('apps/server/dist/aitbc-server.mjs');
    const signal = one(service['KillSignal'], 'KillSignal') as NodeJS.Signals;
    expect(signal).toBe('SIGTERM');
    const stopLimitMs = Number(one(service['TimeoutStopSec'], 'TimeoutStopSec')) * 1000;
    const environment = Object.fromEntries((service['Environment'] ?? []).map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]));
    expect(environment).toMatchObject({ AITBC_DATA_DIR: expect.any(String), LOG_FORMAT: 'json' });

    // What `pnpm build` leaves for it (the bundle; esbuild, well under a second).
    execFileSync(process.execPath, ['apps/server/scripts/bundle.mjs'], { cwd: repo, stdio: 'ignore' });
    // systemd's environment is the unit's alone (and PATH); here the working directory is this checkout, the data
    // directory a temporary one, the port any free one, and `node` the one running the tests.
    const child = spawn(process.execPath, args, {
      cwd: repo,
      env: { PATH: process.env.PATH ?? '', ...environment, AITBC_DATA_DIR: dataDir, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = await whenListening(child);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    const started = Date.now();
    expect(await server.stop(signal)).toBe(0);
    expect(Date.now() - started).toBeLessThan(stopLimitMs);
    const lines = server
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string });
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining([`shutting down (${signal})`, 'stopped']));
    // Nothing was left listening.
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it('is the unit the README points to for process managers', () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    expect(readme.includes('(docs/aitbc-server.service)'), 'README links docs/aitbc-server.service').toBe(true);
    expect(readme).toContain(one(service['ExecStart'], 'ExecStart').replace('/usr/bin/node', 'node'));
  });
});

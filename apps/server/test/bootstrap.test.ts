import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/aitbc-server.mjs', import.meta.url));

interface Started {
  output: () => string;
  url: string;
  stop(): Promise<number | null>;
}

/** `aitbc-server` as an operator runs it: its own process, embedded SQLite, a random port. */
function startProcess(dataDir: string): Promise<Started> {
  const child = spawn(process.execPath, [bin], {
    env: { ...process.env, AITBC_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn', DATABASE_URL: '', AITBC_ADMIN_API_KEYS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 30_000);
    const poll = setInterval(() => {
      const m = /API:\s+(http:\/\/\S+)/.exec(out);
      if (m) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve({
          output: () => out,
          url: m[1]!,
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    }, 50);
    exited.then(() => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`server exited early:\n${out}`));
    });
  });
}

describe('first start on the embedded default', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-boot-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('creates one admin key, shows it once, stores it 0600, and never prints it again', async () => {
    const first = await startProcess(dataDir);
    const keyFile = join(dataDir, 'admin.key');
    const key = readFileSync(keyFile, 'utf8').trim();
    expect(key).toMatch(/^aitbc_/);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(first.output().split(key).length - 1).toBe(1);
    expect(statSync(join(dataDir, 'aitbc.db')).isFile()).toBe(true);

    const issued = await fetch(`${first.url}/api/v1/keys`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ owner_id: 'erin' }),
    });
    expect(issued.status).toBe(201);
    const ownerKey = ((await issued.json()) as { key: string }).key;
    const health = await fetch(`${first.url}/healthz`);
    expect(((await health.json()) as { database: { provider: string } }).database.provider).toBe('sqlite');
    expect(await first.stop()).toBe(0);
    expect(first.output()).not.toContain(ownerKey);

    const second = await startProcess(dataDir);
    expect(second.output()).not.toContain(key);
    expect(second.output()).toContain(`Admin key: in ${keyFile}`);
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(key);
    expect(await second.stop()).toBe(0);
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer } from './support/server-process.ts';

/** `aitbc-server` as an operator runs it: its own process, embedded SQLite, a random port. */
const startProcess = (dataDir: string) =>
  spawnServer({ AITBC_DATA_DIR: dataDir, LOG_LEVEL: 'warn', DATABASE_URL: '', AITBC_ADMIN_API_KEYS: '' });

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

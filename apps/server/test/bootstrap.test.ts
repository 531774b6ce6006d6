import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { spawnServer } from './support/server-process.ts';

const cliBin = fileURLToPath(new URL('../../cli/bin/aitbc.mjs', import.meta.url));

/** The banner's `export …` lines, pasted into bash as they are, then the CLI: what a user does in a second terminal. */
async function pasted(banner: string, ...args: string[]): Promise<string> {
  const exports = banner.split('\n').filter((line) => /^ {4}export /.test(line));
  const script = `${exports.join('\n')}\nexec "$NODE" "$CLI" "$@"`;
  const { stdout } = await promisify(execFile)('bash', ['-c', script, 'bash', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), NODE: process.execPath, CLI: cliBin },
  });
  return stdout;
}

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
    // The lines to paste into another terminal: this server's URL (not the CLI's default port) and the admin key's real path.
    expect(first.output()).toContain(`    export AITBC_URL=${first.url}\n`);
    expect(first.output()).toContain(`    export AITBC_API_KEY=$(cat ${keyFile})   # the admin key`);
    expect(JSON.parse(await pasted(first.output(), '-o', 'json', 'keys', 'whoami'))).toMatchObject({ owner_id: 'admin', scope: 'admin' });
    // A 401 and an admin-only 403 say where this server's admin key is (not ./data/admin.key: the data directory is elsewhere).
    const anonymous = await fetch(`${first.url}/api/v1/agents`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { message: string }).message).toMatch(
      new RegExp(
        `^Missing API key\\. Send your API key .*; the first admin key is in ${keyFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.$`,
      ),
    );
    const owners = await fetch(`${first.url}/trpc/live.owners`, { headers: { 'x-api-key': ownerKey } });
    expect(owners.status).toBe(403);
    expect(((await owners.json()) as { error: { message: string } }).error.message).toBe(
      `This needs an admin API key (the first admin key is in ${keyFile}); the key presented is an owner key`,
    );
    expect(await first.stop()).toBe(0);
    expect(first.output()).not.toContain(ownerKey);

    const second = await startProcess(dataDir);
    expect(second.output()).not.toContain(key);
    expect(second.output()).toContain(`Admin key: in ${keyFile}`);
    expect(second.output()).toContain(`    export AITBC_URL=${second.url}\n    export AITBC_API_KEY=$(cat ${keyFile})`);
    expect(readFileSync(keyFile, 'utf8').trim()).toBe(key);
    expect(await second.stop()).toBe(0);
  });
});

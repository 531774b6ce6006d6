// The `aitbc` executable end to end: separate node processes with their own
// HOME and environment, against a real server on each database kind.
import { tmpdir } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../../server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../server/test/support/server.ts';
import { aitbc, type CliRun, closedPort, spawnAitbc, tempHome } from './support/aitbc.ts';
import { whenListening } from '../../server/test/support/server-process.ts';

/** A failure is one `aitbc: …` line on stderr and nothing on stdout. */
function expectFailure(run: CliRun, code = 1): string {
  expect(run.stderr).toMatch(/^aitbc: [^\n]+\n$/);
  expect(run.stdout).toBe('');
  expect(run.code).toBe(code);
  return run.stderr;
}

function expectSuccess(run: CliRun): string {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return run.stdout;
}

describe.each(databaseKinds)('aitbc against a server on %s', (kind) => {
  let srv: TestServer;
  const home = tempHome();
  /** aitbc with AITBC_URL pointing at the test server and, unless told otherwise, no key. */
  const cli = (args: string[], env: Record<string, string> = {}) => aitbc(args, { home: home.home, env: { AITBC_URL: srv.url, ...env } });

  beforeAll(async () => {
    srv = await startTestServer(kind);
  });
  afterAll(async () => {
    await srv?.close();
    home.remove();
  });

  it('issues a key, then registers, lists, gets, updates and removes an agent with it', async () => {
    const created = JSON.parse(expectSuccess(await cli(['--api-key', srv.adminKey, 'keys', 'create', '--owner', 'alice', '-o', 'json'])));
    expect(created).toMatchObject({ owner_id: 'alice', scope: 'owner', role: 'owner', revoked_at: null });
    expect(created.key).toMatch(/^aitbc_/);
    const asAlice = { AITBC_API_KEY: created.key };

    const agent = JSON.parse(
      expectSuccess(await cli(['agent', 'register', '--name', 'a1', '--capabilities', 'gpu,llm', '-o', 'json'], asAlice)),
    );
    expect(agent).toMatchObject({ id: expect.any(String), name: 'a1', capabilities: ['gpu', 'llm'], status: 'offline', owner_id: 'alice' });

    const table = expectSuccess(await cli(['agent', 'list'], asAlice));
    expect(table.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATUS\s+CAPABILITIES$/);
    expect(table).toMatch(new RegExp(`^${agent.id}\\s+a1\\s+offline\\s+gpu,llm$`, 'm'));
    expect(table).toMatch(/\n1 of 1 agent\n$/);

    const got = expectSuccess(await cli(['agent', 'get', agent.id], asAlice));
    expect(got).toMatch(new RegExp(`^id: +${agent.id}$`, 'm'));
    expect(got).toMatch(/^capabilities: gpu,llm$/m);

    const updated = parseYaml(expectSuccess(await cli(['-o', 'yaml', 'agent', 'update', agent.id, '--status', 'online'], asAlice)));
    expect(updated).toMatchObject({ id: agent.id, name: 'a1', status: 'online', capabilities: ['gpu', 'llm'] });
    expect(Date.parse(updated.last_seen)).toBeGreaterThan(Date.now() - 60_000);

    expect(expectSuccess(await cli(['agent', 'remove', agent.id], asAlice))).toBe(`Removed agent a1 (${agent.id}).\n`);
    const gone = expectFailure(await cli(['agent', 'get', agent.id], asAlice));
    expect(gone).toBe(`aitbc: Agent ${agent.id} not found\n`);
  });

  it('takes the key from ~/.aitbc/config.yaml, and global options after the subcommand too', async () => {
    const key = await srv.keyFor('dora');
    const withFile = tempHome(`coordinator_url: ${srv.url}\napi_key: ${key}\n`);
    try {
      const run = await aitbc(['keys', 'whoami', '-o', 'json'], { home: withFile.home });
      expect(JSON.parse(expectSuccess(run))).toMatchObject({ owner_id: 'dora', scope: 'owner' });
    } finally {
      withFile.remove();
    }
  });

  it('without a key, says so and how to set one', async () => {
    const stderr = expectFailure(await cli(['agent', 'list']));
    expect(stderr).toMatch(/^aitbc: Missing API key\./);
    expect(stderr).toMatch(/--api-key KEY, the AITBC_API_KEY environment variable, or api_key in ~\/\.aitbc\/config\.yaml/);
  });

  it('with a revoked key, says the key is unknown or revoked', async () => {
    const key = await srv.keyFor('erin');
    const admin = { AITBC_API_KEY: srv.adminKey };
    // -q prints the key alone, for $(…); a long label is shown whole.
    const label = 'gpu host seven in the basement rack, the one with the noisy fan';
    const quiet = expectSuccess(await cli(['keys', 'create', '--owner', 'erin-q', '--label', label, '-q'], admin));
    expect(quiet).toMatch(/^\S+\n$/);
    expect(expectSuccess(await cli(['agent', 'list'], { AITBC_API_KEY: quiet.trim() }))).toMatch(/0 of 0 agents/);
    expect(expectSuccess(await cli(['keys', 'list', '--owner', 'erin-q'], admin))).toContain(label);
    const keys = JSON.parse(expectSuccess(await cli(['-o', 'json', 'keys', 'list', '--owner', 'erin'], admin))).keys;
    expect(keys).toHaveLength(1);
    expect(key.startsWith(keys[0].prefix)).toBe(true);
    expect(expectSuccess(await cli(['agent', 'list'], { AITBC_API_KEY: key }))).toMatch(/0 of 0 agents/);

    const revoked = expectSuccess(await cli(['keys', 'revoke', keys[0].id], admin));
    expect(revoked).toBe(`Revoked erin's owner key ${keys[0].prefix}… (${keys[0].id}).\n`);

    const stderr = expectFailure(await cli(['agent', 'list'], { AITBC_API_KEY: key }));
    expect(stderr).toMatch(/^aitbc: Unknown or revoked API key\. .*AITBC_API_KEY/);
    const listed = expectSuccess(await cli(['keys', 'list', '--owner', 'erin', '--include-revoked'], admin));
    expect(listed).toMatch(/STATE +LABEL\n.*revoked[^\n]*\n\n1 key of erin \(1 revoked\)\n$/);
  });

  it('names the field of a validation error', async () => {
    const key = await srv.keyFor('frank');
    const stderr = expectFailure(await cli(['agent', 'register', '--name', 'bad name'], { AITBC_API_KEY: key }));
    expect(stderr).toMatch(/^aitbc: invalid input: --name: an agent name has no spaces/);
  });

  it("keeps owners apart: bob cannot get, update or remove alice's agent", async () => {
    const alice = { AITBC_API_KEY: await srv.keyFor('alice') };
    const bob = { AITBC_API_KEY: await srv.keyFor('bob') };
    const agent = JSON.parse(expectSuccess(await cli(['-o', 'json', 'agent', 'register', '--name', 'private'], alice)));

    const attempts = await Promise.all([
      cli(['agent', 'get', agent.id], bob),
      cli(['agent', 'update', agent.id, '--name', 'stolen'], bob),
      cli(['agent', 'deregister', agent.id], bob),
    ]);
    for (const run of attempts) expect(expectFailure(run)).toBe(`aitbc: Agent ${agent.id} not found\n`);
    expect(expectSuccess(await cli(['agent', 'list'], bob))).not.toContain(agent.id);
    expect(JSON.parse(expectSuccess(await cli(['-o', 'json', 'agent', 'get', agent.id], alice)))).toEqual(agent);
  });
});

describe('aitbc server start', () => {
  it('runs the server in the foreground with the data dir given, prints the first admin key, and stops on Ctrl-C', async () => {
    const home = tempHome();
    // As under `pnpm aitbc`: the process runs elsewhere, INIT_CWD is where the user typed it.
    const server = spawnAitbc(['server', 'start', '--port', '0', '--data-dir', 'state'], {
      home: home.home,
      cwd: tmpdir(),
      env: { LOG_LEVEL: 'silent', INIT_CWD: home.home },
    });
    try {
      const listening = await whenListening(server);
      const out = listening.output();
      const url = listening.url;
      const adminKey = /^ +(aitbc_\S+)$/m.exec(out)![1]!;
      expect(out).toContain(`${home.home}/state/admin.key`);

      const whoami = await aitbc(['--url', url, '--api-key', adminKey, '-o', 'json', 'keys', 'whoami'], { home: home.home });
      expect(JSON.parse(expectSuccess(whoami))).toMatchObject({ owner_id: 'admin', scope: 'admin' });

      expect(await listening.stop('SIGINT')).toBe(0);
    } finally {
      server.kill('SIGKILL');
      home.remove();
    }
  });
});

describe('aitbc without a server', () => {
  const home = tempHome();
  afterAll(() => home.remove());

  it('says a closed port cannot be reached, and where the URL comes from', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const stderr = expectFailure(await aitbc(['--url', url, '--api-key', 'k', 'agent', 'list'], { home: home.home }));
    expect(stderr).toBe(
      `aitbc: cannot reach ${url}: connection refused — is a server running at that address? (AITBC_URL or --url says where it is; a server prints its URL when it starts)\n`,
    );
  });

  it('config show reports the env and the config file, masking the key', async () => {
    const withFile = tempHome('coordinator_url: http://file.example:8000\napi_key: aitbc_filekey_abcdefghijklmnopqrstuvwxyz\n');
    try {
      const env = { AITBC_API_KEY: 'aitbc_envkey_abcdefghijklmnopqrstuvwxyz' };
      const report = JSON.parse(expectSuccess(await aitbc(['config', 'show', '-o', 'json'], { home: withFile.home, env })));
      expect(report).toEqual({
        url: { value: 'http://file.example:8000', source: 'config file' },
        api_key: { value: 'aitbc_envkey…', source: 'env' },
        output: { value: 'json', source: 'flag' },
        config_file: { path: `${withFile.home}/.aitbc/config.yaml`, exists: true },
      });
      const table = expectSuccess(await aitbc(['config', 'show'], { home: withFile.home, env }));
      expect(table).toMatch(/^url: +http:\/\/file\.example:8000 +\(config file\)$/m);
      expect(table).toMatch(/^api_key: +aitbc_envkey… +\(AITBC_API_KEY\)$/m);
      expect(table).not.toContain('abcdefghijklmnopqrstuvwxyz');
    } finally {
      withFile.remove();
    }
  });

  it('rejects a wrong command line with exit 2 and one line', async () => {
    const badFormat = expectFailure(await aitbc(['-o', 'xml', 'agent', 'list'], { home: home.home }), 2);
    expect(badFormat).toMatch(/'xml' is invalid\. Allowed choices are table, json, yaml/);
    expectFailure(await aitbc(['agent', 'register'], { home: home.home }), 2);
    expectFailure(await aitbc(['agent', 'list', '--bogus'], { home: home.home }), 2);
    expectFailure(await aitbc(['agent', 'list', '--limit', '0'], { home: home.home }), 2);
    expect(expectFailure(await aitbc(['--url', 'localhost:8000', 'agent', 'list'], { home: home.home }), 2)).toMatch(/invalid server URL/);
  });

  it('prints help and its version with exit 0', async () => {
    expect(expectSuccess(await aitbc(['--help'], { home: home.home }))).toMatch(/^Usage: aitbc \[options\] \[command\]/);
    expect(expectSuccess(await aitbc(['--version'], { home: home.home }))).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});

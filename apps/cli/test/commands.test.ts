// The run functions called directly, against a real server in this process.
import { createClient, type AitbcClient } from '@aitbc/client';
import { loadConfig, type serve } from '@aitbc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../../server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../server/test/support/server.ts';
import { runAgentList } from '../src/cmd/agent/list.ts';
import { runAgentRegister } from '../src/cmd/agent/register.ts';
import { runAgentUpdate } from '../src/cmd/agent/update.ts';
import { runKeysCreate } from '../src/cmd/keys/create.ts';
import { runKeysWhoami } from '../src/cmd/keys/whoami.ts';
import { runServerStart } from '../src/cmd/server/start.ts';
import { CliError, UsageError, explainFailure } from '../src/failure.ts';
import { closedPort } from './support/aitbc.ts';

describe.each(databaseKinds)('commands on %s', (kind) => {
  let srv: TestServer;
  let alice: { client: AitbcClient };

  beforeAll(async () => {
    srv = await startTestServer(kind);
    alice = { client: createClient({ url: srv.url, apiKey: await srv.keyFor('alice') }) };
  });
  afterAll(() => srv?.close());

  it('agent list --all follows next_cursor to the last page, once per agent', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `paged-${i}`);
    for (const name of names) await runAgentRegister({ name, status: 'busy' }, alice);

    const first = await runAgentList({ status: 'busy', limit: 3 }, alice);
    expect(first.agents).toHaveLength(3);
    expect(first.total_count).toBe(7);
    expect(first.next_cursor).toEqual(expect.any(String));

    const all = await runAgentList({ status: 'busy', limit: 3, all: true }, alice);
    expect(all.next_cursor).toBeNull();
    expect(all.total_count).toBe(7);
    expect(all.agents.map((a) => a.name).sort()).toEqual([...names].sort());

    const rest = await runAgentList({ status: 'busy', limit: 3, cursor: first.next_cursor!, all: true }, alice);
    expect(rest.agents.map((a) => a.id)).toEqual(all.agents.slice(3).map((a) => a.id));
  });

  it('agent update sends only what was given; "" clears a description and [] the capabilities', async () => {
    const a = await runAgentRegister({ name: 'upd', capabilities: ['gpu'], description: 'first' }, alice);
    const renamed = await runAgentUpdate({ id: a.id, name: 'upd-2' }, alice);
    expect(renamed).toMatchObject({ name: 'upd-2', description: 'first', capabilities: ['gpu'], status: 'offline' });
    const cleared = await runAgentUpdate({ id: a.id, description: '', capabilities: [] }, alice);
    expect(cleared).toMatchObject({ name: 'upd-2', description: null, capabilities: [] });
  });

  it('agent update with nothing to change is a usage error and sends no request', async () => {
    const noServer = { client: createClient({ url: `http://127.0.0.1:${await closedPort()}` }) };
    await expect(runAgentUpdate({ id: 'x' }, noServer)).rejects.toThrow(UsageError);
  });

  it("keys create: an owner key issues its own owner's keys, never another's; an admin key issues anyone's", async () => {
    const failure = await runKeysCreate({ owner: 'carol' }, alice).catch((e) => explainFailure(e, srv.url));
    expect(failure).toBeInstanceOf(CliError);
    expect((failure as CliError).message).toMatch(/An owner key acts only for its own owner \(alice\)/);

    const own = await runKeysCreate({ scope: 'read', label: 'dashboards' }, alice);
    expect(own).toMatchObject({ owner_id: 'alice', scope: 'read', agents: null, members: null, expires_at: null, label: 'dashboards' });
    const wider = await runKeysCreate({ scope: 'owner' }, { client: createClient({ url: srv.url, apiKey: own.key }) }).catch((e) =>
      explainFailure(e, srv.url),
    );
    expect((wider as CliError).message).toMatch(/the key presented is a read key/);

    const admin = { client: createClient({ url: srv.url, apiKey: srv.adminKey }) };
    const created = await runKeysCreate({ owner: 'carol', label: 'ci' }, admin);
    expect(created).toMatchObject({ owner_id: 'carol', scope: 'owner', role: 'owner', label: 'ci' });
    expect(created.key.startsWith(created.prefix)).toBe(true);
    expect(await runKeysWhoami({ client: createClient({ url: srv.url, apiKey: created.key }) })).toEqual({
      owner_id: 'carol',
      scope: 'owner',
      role: 'owner',
      key_id: created.id,
      agents: null,
      members: null,
      expires_at: null,
      agent_names: null,
    });
  });

  it('keys create --agents takes names or ids of your agents, for worker keys only, and --role still means --scope', async () => {
    const a = await runAgentRegister({ name: 'named-for-key' }, alice);
    const b = await runAgentRegister({ name: 'other-for-key' }, alice);
    const worker = await runKeysCreate({ scope: 'worker', agents: ['named-for-key', b.id, a.id], expires: 3600 }, alice);
    expect(worker).toMatchObject({ scope: 'worker', agents: [a.id, b.id], members: [] });
    expect(Date.parse(worker.expires_at!) - Date.parse(worker.created_at)).toBe(3_600_000);
    const me = await runKeysWhoami({ client: createClient({ url: srv.url, apiKey: worker.key }) });
    expect(me).toMatchObject({ scope: 'worker', agents: [a.id, b.id], agent_names: { [a.id]: 'named-for-key', [b.id]: 'other-for-key' } });

    await expect(runKeysCreate({ scope: 'worker', agents: ['no-such-agent'] }, alice)).rejects.toThrow(
      "unknown agent 'no-such-agent': not an id or name of one of your agents",
    );
    // Refused before anything is sent.
    const noServer = { client: createClient({ url: `http://127.0.0.1:${await closedPort()}` }) };
    await expect(runKeysCreate({ agents: [a.id] }, noServer)).rejects.toThrow(
      new UsageError('--agents is for worker keys only: add --scope worker'),
    );
    await expect(runKeysCreate({ scope: 'worker', members: [] }, noServer)).rejects.toThrow('--members needs at least one member id');
    await expect(runKeysCreate({ scope: 'read', role: 'owner' }, noServer)).rejects.toThrow(/--scope read and --role owner disagree/);
    expect(await runKeysCreate({ role: 'read' }, alice)).toMatchObject({ scope: 'read' });
  });

  it("words the server's refusals as one line naming the flag at fault", async () => {
    const explain = (p: Promise<unknown>) =>
      p.then(
        () => expect.unreachable(),
        (e) => explainFailure(e, srv.url).message,
      );

    const invalid = await explain(runAgentRegister({ name: 'bad name', capabilities: ['ok', 'NOT OK!'] }, alice));
    expect(invalid).toMatch(/^invalid input: /);
    expect(invalid).toMatch(/--name: an agent name has no spaces/);
    expect(invalid).toMatch(/--capabilities\.1: /);

    const anonymous = await explain(runAgentList({}, { client: createClient({ url: srv.url }) }));
    expect(anonymous).toMatch(/^Missing API key\. .*--api-key KEY, the AITBC_API_KEY environment variable/);
    expect(anonymous).not.toContain('\n');

    const unknown = await explain(runAgentList({}, { client: createClient({ url: srv.url, apiKey: 'aitbc_nope' }) }));
    expect(unknown).toMatch(/^Unknown or revoked API key/);
  });
});

describe('failures before the server answers', () => {
  it('says the server cannot be reached, and where the URL comes from', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const error = await runAgentList({}, { client: createClient({ url }) }).catch((e) => e);
    expect(explainFailure(error, url).message).toBe(
      `cannot reach ${url}: connection refused — is a server running at that address? (AITBC_URL or --url says where it is; a server prints its URL when it starts)`,
    );
  });

  it('says what fetch refused instead of "fetch failed"', async () => {
    const url = 'http://127.0.0.1:1'; // a port fetch blocks
    const error = await runAgentList({}, { client: createClient({ url }) }).catch((e) => e);
    expect(explainFailure(error, url).message).toBe(`cannot reach ${url}: bad port`);
  });
});

describe('server start', () => {
  function fakeServer() {
    const started: Parameters<typeof serve>[0][] = [];
    const fake: typeof serve = async (config) => {
      started.push(config);
    };
    return { started, loadServer: async () => ({ serve: fake, loadConfig }) };
  }

  it('starts the server with flags over the environment, relative paths from where the user ran it', async () => {
    const server = fakeServer();
    const env = { PORT: '9000', HOST: '0.0.0.0', AITBC_DATA_DIR: '/env/data', DATABASE_URL: 'postgresql://env/db', LOG_LEVEL: 'warn' };
    const config = await runServerStart(
      { port: 8123, dataDir: 'here/data', databaseUrl: 'file:./dev.db' },
      { env, cwd: '/home/u/proj', ...server },
    );
    expect(server.started).toEqual([config]);
    expect(config).toMatchObject({
      port: 8123,
      host: '0.0.0.0',
      dataDir: '/home/u/proj/here/data',
      databaseUrl: 'file:/home/u/proj/dev.db',
      logLevel: 'warn',
    });
  });

  it('takes the environment when no flag is given', async () => {
    const server = fakeServer();
    const env = { PORT: '9000', DATABASE_URL: 'postgresql://u@db:5432/aitbc' };
    const config = await runServerStart({}, { env, cwd: '/home/u/proj', ...server });
    expect(config).toMatchObject({
      port: 9000,
      host: '127.0.0.1',
      dataDir: '/home/u/proj/data',
      databaseUrl: 'postgresql://u@db:5432/aitbc',
    });
  });
});

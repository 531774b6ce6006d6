// Logs a person can read: one short human line per event that matters on a
// terminal (LOG_FORMAT=pretty), JSON lines otherwise; the request id on
// every line of a request; nothing per claim or heartbeat at info; keys
// redacted in both formats. Real server processes, as an operator runs them.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { prettyLine } from '../src/log-format.ts';
import { restClient } from './support/http.ts';
import { type ListeningServer, serverBin, spawnServer } from './support/server-process.ts';

const ADMIN = 'logs-admin-key-0123456789abcdef';
const PRETTY = /^\d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \S/;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'aitbc-logs-'));
  dirs.push(dir);
  return dir;
}

/** The log lines in a server's output: everything but the start-up banner (indented, or a rule, or blank). */
const logLines = (out: string) => out.split('\n').filter((l) => l.trim() && !/^(\s|=)/.test(l));

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Traffic {
  /** x-request-id of each request made, with its status. */
  requests: { id: string; status: number; what: string }[];
  /** The request that failed with a 500. */
  failed: string;
}

/** A few requests (ok, 201, 401, 404, one with a key in its URL), then one that fails with a 500 (its table renamed away). */
async function traffic(server: ListeningServer, dir: string): Promise<Traffic> {
  const requests: Traffic['requests'] = [];
  const call = async (what: string, path: string, init: RequestInit = {}) => {
    const res = await fetch(`${server.url}${path}`, init);
    await res.text();
    requests.push({ id: res.headers.get('x-request-id')!, status: res.status, what });
    return res;
  };
  const json = { 'content-type': 'application/json', 'x-api-key': ADMIN };
  await call('health', '/healthz');
  await call('register', '/api/v1/agents', { method: 'POST', headers: json, body: '{"name":"logs"}' });
  await call('no key', '/api/v1/whoami');
  await call('key in the URL', `/api/v1/agents?api_key=${ADMIN}`);
  await call('unknown agent', '/api/v1/agents/nope', { headers: json });
  const db = new Sqlite(join(dir, 'aitbc.db'));
  db.pragma('busy_timeout = 5000');
  db.exec('ALTER TABLE agents RENAME TO agents_away');
  let failed: Response;
  try {
    failed = await call('500', '/api/v1/agents', { headers: json });
  } finally {
    db.exec('ALTER TABLE agents_away RENAME TO agents');
    db.close();
  }
  expect(failed.status).toBe(500);
  for (const r of requests) expect(r.id, r.what).toMatch(/^[0-9a-f-]{36}$/);
  return { requests, failed: failed.headers.get('x-request-id')! };
}

describe('LOG_FORMAT=pretty', () => {
  it('writes one human line per event: start, slow requests and errors with their request id, stop; keys stay redacted', async () => {
    const dir = dataDir();
    const server = await spawnServer({
      AITBC_DATA_DIR: dir,
      DATABASE_URL: '',
      AITBC_ADMIN_API_KEYS: ADMIN,
      LOG_FORMAT: 'pretty',
      // Nearly every request is slow; one that took under 1 ms still has its line at debug.
      AITBC_SLOW_REQUEST_MS: '1',
      LOG_LEVEL: 'debug',
    });
    let stopped = false;
    try {
      const { requests, failed } = await traffic(server, dir);
      await until('a line for every request', () =>
        requests.every((r) => logLines(server.output()).some((l) => / (slow )?request /.test(l) && l.endsWith(`req=${r.id}`))),
      );
      const lines = logLines(server.output());
      for (const line of lines) {
        expect(line, 'a human line').toMatch(PRETTY);
        expect(() => JSON.parse(line)).toThrow();
      }
      // Where it listens, which database, where the admin key comes from: one line, no JSON, no pid or hostname.
      expect(lines).toContainEqual(
        `${lines.find((l) => l.includes('listening on'))!.slice(0, 12)} INFO  listening on ${server.url} (sqlite ${join(dir, 'aitbc.db')}; admin keys from AITBC_ADMIN_API_KEYS)`,
      );
      // Fastify's own "Server listening at" is only for debug, under this line.
      expect(server.output()).not.toMatch(/INFO {2}Server listening at|hostname|pid=/);
      // A line for each request: method, URL, status, time, request id; a warning when slow (AITBC_SLOW_REQUEST_MS=1).
      for (const r of requests) {
        const line = lines.find((l) => / (slow )?request /.test(l) && l.endsWith(`req=${r.id}`));
        expect(line ?? '', `${r.what}: ${server.output()}`).toMatch(
          new RegExp(`^\\S+ (WARN  slow request|DEBUG request) (GET|POST) /\\S* ${r.status} [\\d,.]+ ms req=${r.id}$`),
        );
      }
      expect(lines.filter((l) => / WARN {2}slow request (GET|POST) \/\S* \d{3} [\d,]+ ms req=/.test(l)).length).toBeGreaterThan(0);
      // The 500: the procedure, the error's message on the line, its stack indented under it.
      const out = server.output().split('\n');
      const at = out.findIndex((l) => l.includes('ERROR procedure failed') && l.endsWith(`req=${failed}`));
      expect(at, server.output()).toBeGreaterThanOrEqual(0);
      expect(out[at]).toMatch(/^\S+ ERROR procedure failed agent\.list: \S.* req=[0-9a-f-]{36}$/);
      expect(out[at]).toMatch(/agents/);
      expect(out[at + 1]).toMatch(/^ {4}at /);
      // The key never shows, wherever it was; the URL does, redacted.
      expect(server.output()).not.toContain(ADMIN);
      expect(server.output()).toContain('/api/v1/agents?api_key=[redacted]');

      expect(await server.stop()).toBe(0);
      stopped = true;
      await until('the stop lines', () => /INFO {2}stopped\n/.test(server.output()));
      expect(server.output()).toMatch(/INFO {2}shutting down \(SIGTERM\)\n(.*\n)*.*INFO {2}stopped\n/);
    } finally {
      if (!stopped) await server.stop();
    }
  });

  it('at debug shows every request on a line of its own, claims and heartbeats included', async () => {
    const server = await spawnServer({
      AITBC_DATA_DIR: dataDir(),
      DATABASE_URL: '',
      AITBC_ADMIN_API_KEYS: ADMIN,
      LOG_FORMAT: 'pretty',
      LOG_LEVEL: 'debug',
    });
    try {
      const call = restClient(server.url, ADMIN);
      const agent = (await call('POST', '/api/v1/agents', { name: 'debug' })).body.id as string;
      const claim = await call('POST', `/api/v1/agents/${agent}/claims`, { max: 2 });
      expect(claim.status).toBe(200);
      const id = claim.headers.get('x-request-id')!;
      await until('the claim’s line', () => server.output().includes(`req=${id}`));
      const line = logLines(server.output()).find((l) => l.endsWith(`req=${id}`));
      expect(line).toMatch(new RegExp(`^\\S+ DEBUG request POST /api/v1/agents/${agent}/claims 200 [\\d.]+ ms req=${id}$`));
    } finally {
      await server.stop();
    }
  });
});

describe('LOG_FORMAT=json', () => {
  it('writes JSON lines, each of a request with its reqId', async () => {
    const dir = dataDir();
    const server = await spawnServer({
      AITBC_DATA_DIR: dir,
      DATABASE_URL: '',
      AITBC_ADMIN_API_KEYS: ADMIN,
      LOG_FORMAT: 'json',
      AITBC_SLOW_REQUEST_MS: '1',
      LOG_LEVEL: 'debug',
    });
    try {
      const { requests, failed } = await traffic(server, dir);
      await until('a line for every request', () =>
        requests.every((r) => new RegExp(`"reqId":"${r.id}".*"msg":"(slow )?request"`).test(server.output())),
      );
      const records = logLines(server.output()).map((l) => JSON.parse(l) as Record<string, any>);
      expect(records.find((r) => r.msg.startsWith('listening on'))).toMatchObject({
        level: 30,
        url: server.url,
        database: `sqlite ${join(dir, 'aitbc.db')}`,
        adminKey: 'admin keys from AITBC_ADMIN_API_KEYS',
      });
      for (const r of requests) {
        const record = records.find((rec) => rec.reqId === r.id && /^(slow )?request$/.test(rec.msg));
        expect(record, r.what).toMatchObject({ status: r.status, ms: expect.any(Number), url: expect.stringMatching(/^\//) });
        expect(record!.level).toBe(record!.msg === 'slow request' ? 40 : 20);
      }
      expect(records.filter((r) => r.msg === 'slow request').length).toBeGreaterThan(0);
      expect(records.find((r) => r.reqId === failed && r.msg === 'procedure failed')).toMatchObject({
        level: 50,
        path: 'agent.list',
        err: { message: expect.stringContaining('agents'), stack: expect.stringContaining('    at ') },
      });
      expect(server.output()).not.toContain(ADMIN);
    } finally {
      await server.stop();
    }
  });
});

describe('at the default level', () => {
  it('a burst of claims, long polls and heartbeats writes no line per request (and JSON when stdout is not a terminal)', async () => {
    const server = await spawnServer({
      AITBC_DATA_DIR: dataDir(),
      DATABASE_URL: '',
      AITBC_ADMIN_API_KEYS: ADMIN,
      LOG_LEVEL: '',
      LOG_FORMAT: '',
    });
    try {
      const call = restClient(server.url, ADMIN);
      const agent = (await call('POST', '/api/v1/agents', { name: 'busy' })).body.id as string;
      const member = (await call('POST', '/swarm/join', { role: 'load-balancer', capability: 'logs' })).body.member_id as string;
      const ids: string[] = [];
      const ok = async (method: string, path: string, body?: unknown, headers?: Record<string, string>) => {
        const r = await call(method, path, body, headers);
        expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBe(200);
        ids.push(r.headers.get('x-request-id')!);
      };
      for (let i = 0; i < 25; i++)
        await Promise.all([
          ok('POST', `/api/v1/agents/${agent}/claims`, { max: 5 }),
          ok('POST', `/swarm/members/${member}/claims`, { max: 5 }),
          ok('POST', `/swarm/members/${member}/heartbeat`),
          ok('POST', '/swarm/heartbeats', { member_ids: [member] }),
        ]);
      // Long polls that wait longer than the 1 s threshold for work that never comes: waiting is not slowness.
      await Promise.all([
        ok('POST', `/api/v1/agents/${agent}/claims`, { max: 1, wait_seconds: 1.5 }),
        ok('POST', `/swarm/members/${member}/claims`, { max: 1, wait_seconds: 1.5 }),
        ok('POST', '/trpc/work.claims', { agent_id: agent, max: 1, wait_seconds: 1.5 }),
      ]);
      await new Promise((r) => setTimeout(r, 300));
      const lines = logLines(server.output());
      const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(
        records.map((r) => r.msg),
        lines.join('\n'),
      ).toEqual([expect.stringMatching(/^applied \d+ database migration\(s\)$/), expect.stringMatching(/^listening on /)]);
      for (const id of ids) expect(server.output()).not.toContain(id);
    } finally {
      await server.stop();
    }
  });
});

describe('LOG_FORMAT', () => {
  it('is json, pretty, or unset; anything else stops the server at start with a clear message', async () => {
    expect(loadConfig({}, '/tmp').logFormat).toBeUndefined();
    expect(loadConfig({ LOG_FORMAT: ' Pretty ' }, '/tmp').logFormat).toBe('pretty');
    expect(loadConfig({ LOG_FORMAT: 'json' }, '/tmp').logFormat).toBe('json');
    expect(() => loadConfig({ LOG_FORMAT: 'yaml' }, '/tmp')).toThrow('LOG_FORMAT must be json or pretty (got "yaml")');

    const child = spawn(process.execPath, [serverBin], {
      env: { ...process.env, PORT: '0', AITBC_DATA_DIR: dataDir(), DATABASE_URL: '', LOG_FORMAT: 'yaml' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(1);
    expect(out.trim()).toBe(
      'aitbc-server: failed to start: LOG_FORMAT must be json or pretty (got "yaml"); unset, it is pretty on a terminal and json otherwise',
    );
  });
});

describe('the pretty line', () => {
  const time = new Date(2026, 0, 2, 12, 4, 9, 871).getTime();
  const line = (record: Record<string, unknown>, colors = false) =>
    prettyLine(JSON.stringify({ time, pid: 1, hostname: 'h', ...record }), { colors });

  it('is short: time, level, message, what the request was, other fields, the request id last', () => {
    expect(line({ level: 40, reqId: 'r1', method: 'POST', url: '/api/v1/x', status: 200, ms: 1204, msg: 'slow request' })).toBe(
      '12:04:09.871 WARN  slow request POST /api/v1/x 200 1,204 ms req=r1\n',
    );
    expect(line({ level: 30, url: 'http://h:1', database: 'sqlite /d/a.db', msg: 'listening on http://h:1 (sqlite /d/a.db)' })).toBe(
      '12:04:09.871 INFO  listening on http://h:1 (sqlite /d/a.db)\n',
    );
    expect(line({ level: 30, migrations: ['a', 'b', 'c', 'd', 'e'], note: 'two words', n: 3, part: 'pp', empty: '', msg: 'applied' })).toBe(
      '12:04:09.871 INFO  applied migrations=a,…,e note="two words" n=3 part=pp empty=""\n',
    );
    expect(line({ level: 30, signal: 'SIGINT', msg: 'shutting down (SIGINT)' })).toBe('12:04:09.871 INFO  shutting down (SIGINT)\n');
  });

  it('puts an error’s message on the line (one line) and its stack under it, indented', () => {
    const err = {
      type: 'Error',
      message: '\nInvalid call:\n\n  no such table: agents',
      stack: 'Error: \nInvalid call:\n\n  no such table\n    at a (x.ts:1:2)\n    at b (y.ts:3:4)',
    };
    expect(line({ level: 50, reqId: 'r2', err, path: 'agent.list', msg: 'procedure failed' })).toBe(
      '12:04:09.871 ERROR procedure failed agent.list: Invalid call: no such table: agents req=r2\n    at a (x.ts:1:2)\n    at b (y.ts:3:4)\n',
    );
  });

  it('is coloured only when asked, and anything not JSON passes through', () => {
    expect(line({ level: 50, msg: 'x' }, true)).toBe('\x1b[2m12:04:09.871\x1b[0m \x1b[31mERROR\x1b[0m x\n');
    expect(line({ level: 50, msg: 'x' })).not.toContain('\x1b');
    expect(prettyLine('not json\n', { colors: false })).toBe('not json\n');
  });
});

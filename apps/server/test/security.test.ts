// The security review, as tests: keys stored only as hashes and compared in
// constant time, keys never in the logs, security headers on every answer,
// CORS off unless configured, the docs page working under the CSP, and the
// server bound to 127.0.0.1 unless told otherwise.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { CONTENT_SECURITY_POLICY, SECURITY_HEADERS } from '../src/security-headers.ts';
import { databaseKinds } from './support/databases.ts';
import { snapshot } from './support/db-state.ts';
import { restClient } from './support/http.ts';
import { spawnServer } from './support/server-process.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe.each(databaseKinds)('API keys at rest on %s', (kind) => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer(kind);
  });
  afterAll(() => srv?.close());

  it('are stored only as SHA-256 hashes: no table holds a key, and each key’s row holds its hash', async () => {
    const admin = restClient(srv.url, srv.adminKey);
    const issued = await Promise.all(
      ['alice', 'bob', 'carol'].map((owner) => admin('POST', '/api/v1/keys', { owner_id: owner, label: 'k' })),
    );
    const keys = issued.map((r) => r.body.key as string);
    // Use them, so that anything a request might write (last use, caches, stats) is written.
    for (const key of keys) expect((await restClient(srv.url, key)('POST', '/api/v1/agents', { name: 'a' })).status).toBe(201);
    const everything = [...(await snapshot(srv.server.db)).values()].flatMap((t) => t.rows).join('\n');
    for (const key of [...keys, srv.adminKey]) {
      expect(everything).not.toContain(key);
      // Not even the secret part after the recognisable prefix.
      expect(everything).not.toContain(key.slice(12));
    }
    const rows = await srv.server.db.run((db) => db.apiKey.findMany({ where: { ownerId: { in: ['alice', 'bob', 'carol'] } } }));
    expect(rows.map((r) => r.keyHash).sort()).toEqual(keys.map(sha256).sort());
    // Listings show the prefix only.
    const listed = JSON.stringify((await admin('GET', '/api/v1/keys')).body);
    for (const key of keys) expect(listed).not.toContain(key);
  });
});

describe('API key comparison', () => {
  it('compares hashes with timingSafeEqual only, never with == on key material', () => {
    const source = readFileSync(new URL('../src/auth/api-keys.ts', import.meta.url), 'utf8');
    expect(source).toMatch(/timingSafeEqual\(x, y\)/);
    // Both places a presented key is checked go through sameHash: configured admin keys (every one of them, always) and stored keys.
    expect(source).toMatch(/for \(const admin of this\.configuredAdminHashes\) configured = sameHash\(admin, hash\) \|\| configured;/);
    expect(source).toMatch(/found && sameHash\(found\.keyHash, hash\)/);
    expect(source).not.toMatch(/(keyHash|hash|key)\s*[!=]==?\s*(hash|key|row)/);
  });
});

describe('logs', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-logs-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('never contain a key, wherever a client puts it, at the most verbose level', async () => {
    const admin = `admin-${sha256('admin').slice(0, 32)}`;
    const server = await spawnServer({
      AITBC_DATA_DIR: dataDir,
      DATABASE_URL: '',
      AITBC_ADMIN_API_KEYS: admin,
      LOG_LEVEL: 'trace',
      AITBC_RATE_LIMIT: '1000',
    });
    try {
      const call = restClient(server.url, admin);
      const issued = (await call('POST', '/api/v1/keys', { owner_id: 'alice' })).body.key as string;
      const revoked = (await call('POST', '/api/v1/keys', { owner_id: 'bob' })).body;
      await call('DELETE', `/api/v1/keys/${revoked.id}`);
      const unknown = 'aitbc_this-key-was-never-issued-0123456789abcdef';
      const secrets = [admin, issued, revoked.key as string, unknown];
      const h = (key: string, extra: Record<string, string> = {}) => ({ 'x-api-key': key, ...extra });
      for (const key of secrets) {
        // The header every client uses, on success, on 401, on 404, on a 400 and on a failing procedure.
        await fetch(`${server.url}/api/v1/whoami`, { headers: h(key) });
        await fetch(`${server.url}/api/v1/agents/nope`, { headers: h(key) });
        await fetch(`${server.url}/api/v1/agents`, {
          method: 'POST',
          headers: h(key, { 'content-type': 'application/json' }),
          body: '{"name": 5}',
        });
        await fetch(`${server.url}/api/v1/agents`, {
          method: 'POST',
          headers: h(key, { 'content-type': 'application/json' }),
          body: '{bad json',
        });
        await fetch(`${server.url}/trpc/key.whoami`, { headers: h(key) });
        // Other places a key might travel by mistake: Authorization, a cookie, the body.
        await fetch(`${server.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });
        await fetch(`${server.url}/api/v1/whoami`, { headers: { cookie: `api_key=${key}` } });
        await fetch(`${server.url}/api/v1/agents`, {
          method: 'POST',
          headers: h(key, { 'content-type': 'application/json' }),
          body: JSON.stringify({ name: 'n', description: key }),
        });
        await fetch(`${server.url}/api/v1/agents?limit=5&api_key=${encodeURIComponent(key)}`, { headers: h(key) });
        // A key pasted into a path: recognisable by its aitbc_ prefix (the issued ones).
        if (key.startsWith('aitbc_')) await fetch(`${server.url}/api/v1/agents/${key}`, { headers: h(key) });
      }
      await new Promise((r) => setTimeout(r, 300));
      const out = server.output();
      expect(out).toContain('"reqId"');
      expect(out).toMatch(/"msg":"request"/);
      for (const key of secrets) expect(out, 'a key in the log output').not.toContain(key);
      // The URLs are still logged, with the secret part redacted.
      expect(out).toContain('/api/v1/agents?limit=5&api_key=[redacted]');
      expect(out).toContain('/api/v1/agents/aitbc_[redacted]');
    } finally {
      await server.stop();
    }
  });
});

describe.each(databaseKinds)('security headers and CORS on %s', (kind) => {
  let srv: TestServer;
  let cors: TestServer;
  let key: string;
  beforeAll(async () => {
    srv = await startTestServer(kind);
    key = await srv.keyFor('alice');
  });
  afterAll(async () => {
    await srv?.close();
    await cors?.close();
  });

  it('are on every answer: success, errors of every kind, docs and the OpenAPI document', async () => {
    const json = { 'content-type': 'application/json', 'x-api-key': key };
    const answers: [string, Response][] = [
      ['200', await fetch(`${srv.url}/api/v1/whoami`, { headers: { 'x-api-key': key } })],
      ['201', await fetch(`${srv.url}/api/v1/agents`, { method: 'POST', headers: json, body: '{"name":"h"}' })],
      ['400', await fetch(`${srv.url}/api/v1/agents`, { method: 'POST', headers: json, body: '{"name":5}' })],
      ['401', await fetch(`${srv.url}/api/v1/whoami`)],
      ['404', await fetch(`${srv.url}/no/such/route`)],
      [
        '413',
        await fetch(`${srv.url}/api/v1/agents`, {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }),
        }),
      ],
      [
        '415',
        await fetch(`${srv.url}/api/v1/agents`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'text/plain' }, body: 'x' }),
      ],
      ['healthz', await fetch(`${srv.url}/healthz`)],
      ['openapi', await fetch(`${srv.url}/openapi.json`)],
      ['docs', await fetch(`${srv.url}/docs/`)],
      ['trpc', await fetch(`${srv.url}/trpc/key.whoami`, { headers: { 'x-api-key': key } })],
    ];
    for (const [what, res] of answers) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers.get(name), `${what}: ${name}`).toBe(value);
      expect(res.headers.get('access-control-allow-origin'), what).toBeNull();
    }
    expect(SECURITY_HEADERS).toMatchObject({
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'cross-origin-opener-policy': 'same-origin',
    });
    expect(CONTENT_SECURITY_POLICY).toMatch(/default-src 'self'/);
    expect(CONTENT_SECURITY_POLICY).toMatch(/script-src 'self'(;|$)/);
    expect(CONTENT_SECURITY_POLICY).toMatch(/frame-ancestors 'none'/);
    // A key in an answer is not for caches.
    expect(answers[1]![1].headers.get('cache-control')).toBe('no-store');
  });

  it('CORS is off by default (no preflight, no allow-origin) and answers only the configured origins', async () => {
    const preflight = (url: string, origin: string) =>
      fetch(`${url}/api/v1/agents`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key,content-type' },
      });
    const off = await preflight(srv.url, 'https://app.example.com');
    expect(off.headers.get('access-control-allow-origin')).toBeNull();
    expect(off.status).toBe(404);
    const simple = await fetch(`${srv.url}/api/v1/whoami`, { headers: { origin: 'https://app.example.com', 'x-api-key': key } });
    expect(simple.headers.get('access-control-allow-origin')).toBeNull();
    expect(loadConfig({}, '/tmp').corsOrigins).toEqual([]);
    expect(loadConfig({ AITBC_CORS_ORIGINS: 'https://a.example.com, http://localhost:5173' }, '/tmp').corsOrigins).toEqual([
      'https://a.example.com',
      'http://localhost:5173',
    ]);
    expect(() => loadConfig({ AITBC_CORS_ORIGINS: 'https://a.example.com/path' }, '/tmp')).toThrow(/not an origin/);
    expect(() => loadConfig({ AITBC_CORS_ORIGINS: '*' }, '/tmp')).toThrow(/not an origin/);

    cors = await startTestServer(kind, { config: { corsOrigins: ['https://app.example.com'] } });
    const allowed = await preflight(cors.url, 'https://app.example.com');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(/x-api-key/);
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    const other = await preflight(cors.url, 'https://evil.example.net');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const get = await fetch(`${cors.url}/healthz`, { headers: { origin: 'https://app.example.com' } });
    expect(get.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(get.headers.get('vary')).toMatch(/origin/i);
    expect(get.headers.get('x-frame-options')).toBe('DENY');
  });
});

/** Chromium, if this machine has it (CI installs it; see .ci/run). */
function chromium(): string | null {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  }
  return null;
}

describe('the docs page under the content security policy', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer(databaseKinds[0]!);
  });
  afterAll(() => srv?.close());

  const browser = chromium();
  if (!browser && process.env.CI !== 'true')
    process.stderr.write(
      '[tests] security browser test SKIPPED: chromium is missing (apt-get install -y chromium); CI=true makes this an error.\n',
    );
  it.skipIf(!browser && process.env.CI !== 'true')(
    'renders every operation in a real browser, with no CSP violation',
    { timeout: 60_000 },
    async () => {
      expect(browser, 'chromium is needed for this test under CI=true').toBeTruthy();
      const run = spawn(
        browser!,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--enable-logging=stderr',
          '--v=0',
          '--virtual-time-budget=10000',
          '--dump-dom',
          `${srv.url}/docs/`,
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let dom = '';
      let log = '';
      run.stdout.setEncoding('utf8').on('data', (d: string) => (dom += d));
      run.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
      await new Promise((resolve) => run.on('close', resolve));
      const doc = (await (await fetch(`${srv.url}/openapi.json`)).json()) as { paths: Record<string, object> };
      const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
      // Swagger UI ran (its scripts loaded from this origin) and drew one block per operation.
      expect((dom.match(/class="opblock opblock-/g) ?? []).length).toBe(operations);
      expect(log).not.toMatch(/Content Security Policy/);
    },
  );
});

describe('binding', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-bind-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('is 127.0.0.1 by default: the server is not reachable on the machine’s other addresses', async () => {
    expect(loadConfig({}, '/tmp').host).toBe('127.0.0.1');
    const env = {
      AITBC_DATA_DIR: dataDir,
      DATABASE_URL: '',
      AITBC_ADMIN_API_KEYS: 'bind-admin-key-0123456789',
      LOG_LEVEL: 'warn',
      HOST: '',
    };
    const server = await spawnServer(env);
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const port = Number(new URL(server.url).port);
      const reach = (host: string) =>
        new Promise<boolean>((resolve) => {
          const socket = connect({ host, port, timeout: 2000 });
          socket.once('connect', () => {
            socket.destroy();
            resolve(true);
          });
          socket.once('error', () => resolve(false));
          socket.once('timeout', () => {
            socket.destroy();
            resolve(false);
          });
        });
      expect(await reach('127.0.0.1')).toBe(true);
      const others = Object.values(networkInterfaces())
        .flat()
        .filter((i) => i && !i.internal && i.family === 'IPv4')
        .map((i) => i!.address);
      for (const address of others) expect(await reach(address), `reachable on ${address}`).toBe(false);
    } finally {
      await server.stop();
    }
  });
});

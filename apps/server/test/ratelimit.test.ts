// Rate limits: a token bucket per API key, and per client IP for requests
// without a valid key; 429 with Retry-After and a JSON body; /healthz never
// counted; on by default for real starts, off only when configured so. The
// buckets live in memory (per instance, see docs/limits.md), so the database
// kind does not matter here: these run on SQLite.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { TokenBuckets } from '../src/rate-limit.ts';
import { restClient } from './support/http.ts';
import { spawnServer } from './support/server-process.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from './support/waiting.ts';

describe('rate limit configuration', () => {
  it('is on by default, off only when AITBC_RATE_LIMIT=off, and refuses nonsense', () => {
    expect(loadConfig({}, '/tmp').rateLimit).toEqual({ perKey: 1200, perIp: 300 });
    expect(loadConfig({ AITBC_RATE_LIMIT: '600', AITBC_RATE_LIMIT_ANONYMOUS: '60' }, '/tmp').rateLimit).toEqual({ perKey: 600, perIp: 60 });
    expect(loadConfig({ AITBC_RATE_LIMIT: 'off' }, '/tmp').rateLimit).toBeNull();
    expect(loadConfig({ AITBC_RATE_LIMIT: 'OFF ' }, '/tmp').rateLimit).toBeNull();
    expect(loadConfig({ AITBC_RATE_LIMIT_ANONYMOUS: 'off' }, '/tmp').rateLimit).toEqual({ perKey: 1200, perIp: null });
    for (const bad of ['0', '-5', 'lots', '1.5'])
      expect(() => loadConfig({ AITBC_RATE_LIMIT: bad }, '/tmp')).toThrow(/AITBC_RATE_LIMIT must be an integer/);
  });

  it('token buckets allow a burst of the limit, then refill at limit/60 per second', () => {
    let now = 0;
    const buckets = new TokenBuckets(60, () => now);
    for (let i = 0; i < 60; i++) expect(buckets.take('k').ok).toBe(true);
    expect(buckets.take('k')).toEqual({ ok: false, retryAfterMs: 1000 });
    expect(buckets.take('other').ok).toBe(true);
    now += 999;
    expect(buckets.take('k').ok).toBe(false);
    now += 1;
    expect(buckets.take('k')).toEqual({ ok: true, remaining: 0 });
    now += 120_000;
    expect(buckets.take('k')).toEqual({ ok: true, remaining: 59 });
    // Idle buckets are dropped: memory follows the active clients.
    now += 120_000;
    buckets.prune();
    expect(buckets.size).toBe(0);
  });
});

describe('rate limits on a server', () => {
  let srv: TestServer;
  let key: string;
  let other: string;

  beforeAll(async () => {
    // 30 a minute per key (a token every 2 s), 5 per IP without a valid key.
    srv = await startTestServer('sqlite', { config: { rateLimit: { perKey: 30, perIp: 5 } } });
    key = await srv.keyFor('busy');
    other = await srv.keyFor('calm');
  });
  afterAll(() => srv?.close());

  it('answers 429 with Retry-After and a JSON body once a key spent its minute; other keys go on', async () => {
    const call = restClient(srv.url, key);
    // keyFor spent one of the admin key's, none of this one's.
    const remaining: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await call('GET', '/api/v1/whoami');
      expect(r.status).toBe(200);
      remaining.push(Number(r.headers.get('x-ratelimit-remaining')));
    }
    expect(remaining[0]).toBe(29);
    expect(remaining.at(-1)).toBe(0);
    const refused = await call('GET', '/api/v1/agents');
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      code: 'TOO_MANY_REQUESTS',
      message: expect.stringMatching(/30 requests per minute for this API key; retry in \d s/),
    });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    expect(refused.headers.get('x-content-type-options')).toBe('nosniff');
    // Nothing ran: the refused request was not even authenticated further.
    expect((await restClient(srv.url, other)('GET', '/api/v1/whoami')).status).toBe(200);

    // tRPC clients get tRPC's envelope, one per call of a batch, so they read TOO_MANY_REQUESTS.
    const single = await fetch(`${srv.url}/trpc/key.whoami`, { headers: { 'x-api-key': key } });
    expect(single.status).toBe(429);
    expect(await single.json()).toMatchObject({
      error: { code: -32029, data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429, path: 'key.whoami' } },
    });
    const batch = await fetch(`${srv.url}/trpc/key.whoami,agent.list?batch=1&input=${encodeURIComponent('{}')}`, {
      headers: { 'x-api-key': key },
    });
    expect(batch.status).toBe(429);
    const envelopes = (await batch.json()) as { error: { data: { path: string } } }[];
    expect(envelopes.map((e) => e.error.data.path)).toEqual(['key.whoami', 'agent.list']);

    // After Retry-After, the key works again.
    await sleep(retryAfter * 1000 + 100);
    expect((await call('GET', '/api/v1/whoami')).status).toBe(200);
  });

  it('limits requests without a valid key per IP (made-up keys included), and never counts /healthz', async () => {
    for (let i = 0; i < 40; i++) expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${srv.url}/openapi.json`)).status);
    for (let i = 0; i < 2; i++)
      statuses.push((await fetch(`${srv.url}/api/v1/agents`, { headers: { 'x-api-key': `aitbc_made-up-${i}` } })).status);
    expect(statuses).toEqual([200, 200, 200, 401, 401]);
    const refused = await fetch(`${srv.url}/api/v1/agents`, { headers: { 'x-api-key': 'aitbc_yet-another-made-up-key' } });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({
      code: 'TOO_MANY_REQUESTS',
      message: expect.stringMatching(/5 requests per minute for clients without a valid API key/),
    });
    expect((await fetch(`${srv.url}/openapi.json`)).status).toBe(429);
    // A valid key is counted on its own bucket, not the IP's.
    expect((await restClient(srv.url, other)('GET', '/api/v1/agents')).status).toBe(200);
    expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
  });
});

describe('rate limits on the real server binary', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-rl-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('are on by default, and AITBC_RATE_LIMIT sets them', async () => {
    const admin = 'rate-limit-admin-key-0123456789';
    const base = { AITBC_DATA_DIR: dataDir, DATABASE_URL: '', AITBC_ADMIN_API_KEYS: admin, LOG_LEVEL: 'warn' };
    const defaults = await spawnServer(base);
    try {
      const r = await fetch(`${defaults.url}/api/v1/whoami`, { headers: { 'x-api-key': admin } });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-ratelimit-limit')).toBe('1200');
    } finally {
      await defaults.stop();
    }
    const strict = await spawnServer({ ...base, AITBC_RATE_LIMIT: '3' });
    try {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await fetch(`${strict.url}/api/v1/whoami`, { headers: { 'x-api-key': admin } })).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await strict.stop();
    }
    const off = await spawnServer({ ...base, AITBC_RATE_LIMIT: 'off' });
    try {
      const r = await fetch(`${off.url}/api/v1/whoami`, { headers: { 'x-api-key': admin } });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-ratelimit-limit')).toBeNull();
    } finally {
      await off.stop();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { restClient } from './support/http.ts';

describe.each(databaseKinds)('auth on %s', (kind) => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer(kind);
  });
  afterAll(() => srv?.close());

  const expect401 = (r: { status: number; body: any }) => {
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('UNAUTHORIZED');
    expect(r.body.message).toMatch(/X-Api-Key/);
    expect(r.body.message).toMatch(/aitbc keys create/);
  };

  it('rejects a missing key with a JSON body saying how to set one', async () => {
    const r = await restClient(srv.url)('GET', '/api/v1/agents');
    expect401(r);
    expect(r.body.message).toMatch(/^Missing API key/);
  });

  it('rejects an empty key, as the legacy CLI sends when none is configured', async () => {
    const r = await restClient(srv.url, '')('GET', '/api/v1/agents');
    expect401(r);
    expect(r.body.message).toMatch(/^Empty API key/);
  });

  it('rejects an unknown key', async () => {
    expect401(await restClient(srv.url, 'aitbc_not-a-real-key')('GET', '/api/v1/agents'));
  });

  it('rejects a key on the tRPC transport too', async () => {
    const res = await fetch(`${srv.url}/trpc/agent.list?input=${encodeURIComponent('{}')}`);
    expect(res.status).toBe(401);
  });

  it('accepts an issued key until it is revoked, then rejects it at once', async () => {
    const admin = restClient(srv.url, srv.adminKey);
    const created = await admin('POST', '/api/v1/keys', { owner_id: 'carol', label: 'laptop' });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^aitbc_/);
    expect(created.body.key.startsWith(created.body.prefix)).toBe(true);

    const carol = restClient(srv.url, created.body.key);
    const me = await carol('GET', '/api/v1/whoami');
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      owner_id: 'carol',
      scope: 'owner',
      role: 'owner',
      key_id: created.body.id,
      agents: null,
      members: null,
      expires_at: null,
      agent_names: null,
    });
    expect((await carol('GET', '/api/v1/agents')).status).toBe(200);

    const revoked = await admin('DELETE', `/api/v1/keys/${created.body.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    expect401(await carol('GET', '/api/v1/agents'));

    const again = await admin('DELETE', `/api/v1/keys/${created.body.id}`);
    expect(again.status).toBe(409);
  });

  it('stores only hashes: the listing never contains a key', async () => {
    const admin = restClient(srv.url, srv.adminKey);
    const created = await admin('POST', '/api/v1/keys', { owner_id: 'dave' });
    const list = await admin('GET', '/api/v1/keys?owner_id=dave');
    expect(list.status).toBe(200);
    expect(list.body.keys).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(created.body.key);
    const rows = await srv.server.db.run((db) => db.apiKey.findMany({ where: { ownerId: 'dave' } }));
    expect(JSON.stringify(rows)).not.toContain(created.body.key);
  });

  it('pages key listings by cursor', async () => {
    const admin = restClient(srv.url, srv.adminKey);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await admin('POST', '/api/v1/keys', { owner_id: 'pager', label: `k${i}` })).body.id);
    const first = await admin('GET', '/api/v1/keys?owner_id=pager&limit=2');
    expect(first.body.keys).toHaveLength(2);
    const rest = await admin('GET', `/api/v1/keys?owner_id=pager&limit=2&cursor=${first.body.next_cursor}`);
    expect(rest.body.keys).toHaveLength(1);
    expect(rest.body.next_cursor).toBeNull();
    const seen = [...first.body.keys, ...rest.body.keys].map((k: { id: string }) => k.id);
    expect(seen.sort()).toEqual([...ids].sort());
  });

  it('lets an owner key manage only its own owner’s keys, never wider than itself', async () => {
    const alice = restClient(srv.url, await srv.keyFor('alice'));
    const other = await alice('POST', '/api/v1/keys', { owner_id: 'mallory' });
    expect([other.status, other.body.message]).toEqual([403, expect.stringMatching(/acts only for its own owner \(alice\)/)]);
    const admin = await alice('POST', '/api/v1/keys', { role: 'admin' });
    expect([admin.status, admin.body.message]).toEqual([403, 'An owner key cannot issue admin keys']);
    expect((await alice('GET', '/api/v1/keys?owner_id=mallory')).status).toBe(403);
    const count = await srv.server.db.run((db) => db.apiKey.count({ where: { ownerId: 'mallory' } }));
    expect(count).toBe(0);

    const read = await alice('POST', '/api/v1/keys', { scope: 'read', label: 'dashboards' });
    expect(read.status).toBe(201);
    expect(read.body).toMatchObject({ owner_id: 'alice', scope: 'read', label: 'dashboards' });
    const listed = await alice('GET', '/api/v1/keys');
    expect(listed.body.keys.map((k: { owner_id: string }) => k.owner_id)).toEqual(['alice', 'alice']);
    // A read key reads, and manages nothing.
    const reader = restClient(srv.url, read.body.key);
    expect((await reader('GET', '/api/v1/agents')).status).toBe(200);
    const refused = await reader('POST', '/api/v1/keys', { scope: 'read' });
    expect([refused.status, refused.body.message]).toEqual([403, 'This needs an owner or admin key; the key presented is a read key']);
    expect((await alice('DELETE', `/api/v1/keys/${read.body.id}`)).status).toBe(200);
  });

  it('serves health, the OpenAPI document and the docs page without a key', async () => {
    const anon = restClient(srv.url);
    const health = await anon('GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.body.database).toMatchObject({ provider: kind, reachable: true });

    const doc = await anon('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/api/v1/agents', '/api/v1/agents/{agent_id}', '/api/v1/keys']));
    expect(doc.body.paths['/api/v1/agents'].post.responses['201']).toBeDefined();
    expect(doc.body.components.securitySchemes.ApiKey).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Api-Key' });
    // Each operation names the key scope it needs.
    expect(doc.body.paths['/api/v1/agents/{agent_id}/claim'].post['x-aitbc-scope']).toBe('worker');
    expect(doc.body.paths['/api/v1/agents'].get['x-aitbc-scope']).toBe('read');
    expect(doc.body.paths['/api/v1/agents'].post['x-aitbc-scope']).toBe('owner');
    expect(doc.body.paths['/api/v1/whoami'].get['x-aitbc-scope']).toBe('any');
    expect(doc.body.paths['/api/v1/agents/{agent_id}/claim'].post.description).toMatch(/Key scope: `worker`/);
    for (const [path, item] of Object.entries(doc.body.paths as Record<string, Record<string, Record<string, unknown>>>))
      for (const [method, op] of Object.entries(item)) expect(op['x-aitbc-scope'], `${method} ${path}`).toBeDefined();

    const docs = await fetch(`${srv.url}/docs`, { redirect: 'follow' });
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/<html/i);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { restClient } from './support/http.ts';

describe.each(databaseKinds)('agent registry on %s', (kind) => {
  let srv: TestServer;
  let alice: ReturnType<typeof restClient>;
  let bob: ReturnType<typeof restClient>;

  beforeAll(async () => {
    srv = await startTestServer(kind);
    alice = restClient(srv.url, await srv.keyFor('alice'));
    bob = restClient(srv.url, await srv.keyFor('bob'));
  });
  afterAll(() => srv?.close());

  it('registers, gets, updates and deregisters an agent', async () => {
    const created = await alice('POST', '/api/v1/agents', { name: 'crud-1', capabilities: ['GPU', 'llm', 'gpu'], description: 'an agent' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'crud-1',
      capabilities: ['gpu', 'llm'],
      status: 'offline',
      last_seen: null,
      owner_id: 'alice',
    });

    const got = await alice('GET', `/api/v1/agents/${created.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);

    const updated = await alice('PATCH', `/api/v1/agents/${created.body.id}`, { status: 'online', capabilities: ['cpu'] });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ status: 'online', capabilities: ['cpu'], name: 'crud-1', description: 'an agent' });
    expect(Date.parse(updated.body.last_seen)).toBeGreaterThan(Date.now() - 60_000);

    const removed = await alice('DELETE', `/api/v1/agents/${created.body.id}`);
    expect(removed.status).toBe(200);
    expect((await alice('GET', `/api/v1/agents/${created.body.id}`)).status).toBe(404);
    expect((await alice('DELETE', `/api/v1/agents/${created.body.id}`)).status).toBe(404);
  });

  it('answers 409 for a second agent with the same name, per owner only', async () => {
    expect((await alice('POST', '/api/v1/agents', { name: 'twin' })).status).toBe(201);
    const dup = await alice('POST', '/api/v1/agents', { name: 'twin' });
    expect(dup.status).toBe(409);
    expect(dup.body.message).toMatch(/twin/);
    expect((await bob('POST', '/api/v1/agents', { name: 'twin' })).status).toBe(201);
  });

  it('hides every agent route from another owner behind 404, and changes nothing', async () => {
    const a = (await alice('POST', '/api/v1/agents', { name: 'private-1', capabilities: ['gpu'] })).body;
    const before = await srv.server.db.run((db) => db.agent.findUnique({ where: { id: a.id } }));

    const attempts = [
      await bob('GET', `/api/v1/agents/${a.id}`),
      await bob('PATCH', `/api/v1/agents/${a.id}`, { name: 'stolen', status: 'busy' }),
      await bob('DELETE', `/api/v1/agents/${a.id}`),
    ];
    for (const r of attempts) {
      expect(r.status).toBe(404);
      expect(r.body.message).toBe(`Agent ${a.id} not found`);
    }
    const listed = await bob('GET', '/api/v1/agents?limit=500');
    expect(listed.body.agents.map((x: { id: string }) => x.id)).not.toContain(a.id);

    const after = await srv.server.db.run((db) => db.agent.findUnique({ where: { id: a.id } }));
    expect(after).toEqual(before);
  });

  it('paginates by cursor without gaps or repeats, newest first', async () => {
    const carol = restClient(srv.url, await srv.keyFor('carol'));
    const ids: string[] = [];
    for (let i = 0; i < 7; i++)
      ids.push((await carol('POST', '/api/v1/agents', { name: `page-${i}`, status: i % 2 ? 'online' : 'offline' })).body.id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: { status: number; body: any } = await carol('GET', `/api/v1/agents?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.total_count).toBe(7);
      seen.push(...r.body.agents.map((x: { id: string }) => x.id));
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    // every agent exactly once, in the documented order: newest first, ties by id
    expect([...seen].sort()).toEqual([...ids].sort());
    const listed = await srv.server.db.run((db) =>
      db.agent.findMany({ where: { ownerId: 'carol' }, select: { id: true, createdAt: true } }),
    );
    const order = listed.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1)).map((a) => a.id);
    expect(seen).toEqual(order);

    const online = await carol('GET', '/api/v1/agents?status=online');
    expect(online.body.total_count).toBe(3);
    expect(online.body.agents.every((x: { status: string }) => x.status === 'online')).toBe(true);

    expect((await carol('GET', '/api/v1/agents?cursor=garbage')).status).toBe(400);
  });

  it('answers validation errors with the field paths and stores nothing', async () => {
    const dave = restClient(srv.url, await srv.keyFor('dave'));
    const cases: [unknown, string][] = [
      [{}, 'name'],
      [{ name: 'has space' }, 'name'],
      [{ name: 'ok', capabilities: ['bad tag!'] }, 'capabilities.0'],
      [{ name: 'ok', status: 'sleeping' }, 'status'],
      [{ name: 42 }, 'name'],
      [{ name: 'ok', capabilities: 'gpu' }, 'capabilities'],
    ];
    for (const [body, field] of cases) {
      const r = await dave('POST', '/api/v1/agents', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.code).toBe('BAD_REQUEST');
      expect(r.body.data.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
    expect((await dave('GET', '/api/v1/agents?limit=0')).status).toBe(400);
    expect((await dave('GET', '/api/v1/agents?limit=abc')).status).toBe(400);
    const stored = await srv.server.db.run((db) => db.agent.count({ where: { ownerId: 'dave' } }));
    expect(stored).toBe(0);
  });

  it('answers JSON errors for unknown routes, malformed JSON, wrong content type and oversized bodies', async () => {
    const missing = await alice('GET', '/api/v1/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('NOT_FOUND');

    const malformed = await alice('POST', '/api/v1/agents', '{"name": ');
    expect(malformed.status).toBe(400);
    expect(typeof malformed.body.message).toBe('string');

    const wrongType = await alice('POST', '/api/v1/agents', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');

    const huge = await alice('POST', '/api/v1/agents', { name: 'big', description: 'x'.repeat(2 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.body.code).toBe('PAYLOAD_TOO_LARGE');
    expect(huge.body.message).toMatch(/AITBC_BODY_LIMIT/);
    expect(await srv.server.db.run((db) => db.agent.count({ where: { name: 'big' } }))).toBe(0);
  });

  it('carries a request id on every answer', async () => {
    const r = await alice('GET', '/api/v1/agents', undefined, { 'x-request-id': 'trace-123' });
    expect(r.headers.get('x-request-id')).toBe('trace-123');
    const other = await alice('GET', '/api/v1/agents');
    expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

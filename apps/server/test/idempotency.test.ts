// Idempotent submits: execute, coordinate, network create and key create under an idempotency key (REST: the
// Idempotency-Key header; tRPC: idempotency_key). A repeat gets the first answer and creates nothing; a different
// request under the key is 422; a repeat racing the first waits for it. Runs on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statementCounter } from '../src/db/sql.ts';
import { forgetExpiredSubmits } from '../src/idempotency.ts';
import { databaseKinds } from './support/databases.ts';
import { diffSnapshots, snapshot } from './support/db-state.ts';
import { restClient } from './support/http.ts';
import { startTestServer, type TestServer } from './support/server.ts';

describe.each(databaseKinds)('idempotent submits on %s', (kind) => {
  let srv: TestServer;
  let alice: ReturnType<typeof restClient>;
  let bob: ReturnType<typeof restClient>;
  let networkId: string;
  let swarmId: string;
  const executions = () => srv.server.db.run((db) => db.agentNetworkExecution.count({ where: { networkId } }));
  const key = (name: string) => ({ 'idempotency-key': `${name}-${kind}` });

  beforeAll(async () => {
    // No sweep while a test counts statements (it runs one when it needs one).
    srv = await startTestServer(kind, { sweepIntervalMs: 3_600_000 });
    alice = restClient(srv.url, await srv.keyFor('alice'));
    bob = restClient(srv.url, await srv.keyFor('bob'));
    const agent = (await alice('POST', '/api/v1/agents', { name: 'idem' })).body;
    networkId = (await alice('POST', '/api/v1/agents/networks', { name: 'idem', agents: [agent.id] })).body.id;
    swarmId = (await alice('POST', '/swarm/join', { role: 'monitor', capability: 'idem' })).body.swarm_id;
  });
  afterAll(() => srv?.close());

  it('answers a repeated execute with the first answer, and runs it once', async () => {
    const before = await executions();
    const body = { task: { items: [1, 2, 3] }, priority: 'high' };
    const first = await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, body, key('exec'));
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const again = await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, body, key('exec'));
    expect([again.status, again.body]).toEqual([202, first.body]);
    expect(await executions()).toBe(before + 1);
    // The same key over tRPC, in the input: the same request, the same answer.
    const trpc = await alice('POST', '/trpc/execution.execute', { network_id: networkId, ...body, idempotency_key: `exec-${kind}` });
    expect(trpc.body.result.data).toEqual(first.body);
    expect(await executions()).toBe(before + 1);
  });

  it('refuses a different request under the same key (422) and changes nothing', async () => {
    await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, { task: { items: [1] } }, key('changed'));
    const before = await snapshot(srv.server.db);
    const other = await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, { task: { items: [2] } }, key('changed'));
    expect(other.status).toBe(422);
    expect(other.body.message).toMatch(
      new RegExp(`^Idempotency-Key changed-${kind} was first used at \\S+ for a different request \\(execution.execute\\)`),
    );
    // Another procedure under a key already used: also a different request.
    const elsewhere = await alice(
      'POST',
      '/swarm/coordinate',
      { swarm_id: swarmId, strategy: 'broadcast', collaborators: 1 },
      key('changed'),
    );
    expect(elsewhere.status).toBe(422);
    expect(diffSnapshots(before, await snapshot(srv.server.db))).toEqual([]);
  });

  it('refuses a key that is not printable, or a header and a body key that differ (400)', async () => {
    const bad = await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, { task: { x: 1 } }, { 'idempotency-key': 'has space' });
    expect(bad.status).toBe(400);
    const both = await alice(
      'POST',
      `/api/v1/agents/networks/${networkId}/execute`,
      { task: { x: 1 }, idempotency_key: 'one' },
      { 'idempotency-key': 'two' },
    );
    expect([both.status, both.body.message]).toEqual([400, 'idempotency_key and the Idempotency-Key header differ; send one']);
  });

  it('makes repeats that race the first wait for it: one execution, one answer', async () => {
    const before = await executions();
    const body = { task: { items: [1, 2, 3, 4, 5, 6, 7, 8] } };
    const replies = await Promise.all(
      Array.from({ length: 6 }, () => alice('POST', `/api/v1/agents/networks/${networkId}/execute`, body, key('race'))),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(6).fill(202));
    expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
    expect(await executions()).toBe(before + 1);
  });

  it('a keyed execute is one read and one write on PostgreSQL; its repeat gets the first answer whatever changed since', async () => {
    const body = { task: { items: [1, 2] } };
    const before = statementCounter.total;
    const first = await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, body, key('since'));
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    // The network and its agents, then the execution, its subtasks and the key's record in one statement.
    if (kind === 'postgresql') expect(statementCounter.total - before).toBe(2);
    // Paused since, the network accepts no executions: a new one is refused, the repeat gets the first answer.
    expect((await alice('PATCH', `/api/v1/agents/networks/${networkId}`, { status: 'paused' })).status).toBe(200);
    try {
      const executed = await executions();
      expect((await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, body)).status).toBe(409);
      const again = await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, body, key('since'));
      expect([again.status, again.body]).toEqual([202, first.body]);
      expect(await executions()).toBe(executed);
    } finally {
      await alice('PATCH', `/api/v1/agents/networks/${networkId}`, { status: 'active' });
    }
    // A day later its record has expired: the same request runs afresh, under the same key.
    await srv.server.db.run((db) =>
      db.idempotencyRecord.updateMany({
        where: { ownerId: 'alice', key: `since-${kind}` },
        data: { expiresAt: new Date(Date.now() - 1000) },
      }),
    );
    const fresh = await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, body, key('since'));
    expect(fresh.status).toBe(202);
    expect(fresh.body.id).not.toBe(first.body.id);
    expect((await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, body, key('since'))).body).toEqual(fresh.body);
  });

  it('keeps keys per owner, and forgets them after 24 hours', async () => {
    const net = await alice(
      'POST',
      '/api/v1/agents/networks',
      { name: 'keyed', agents: [(await alice('POST', '/api/v1/agents', { name: 'k1' })).body.id] },
      key('net'),
    );
    expect(net.status).toBe(201);
    expect((await alice('POST', '/api/v1/agents/networks', { name: 'keyed', agents: net.body.agents }, key('net'))).body.id).toBe(
      net.body.id,
    );
    // Bob's key of the same name is his own.
    const bobs = await bob(
      'POST',
      '/api/v1/agents/networks',
      { name: 'keyed', agents: [(await bob('POST', '/api/v1/agents', { name: 'k1' })).body.id] },
      key('net'),
    );
    expect(bobs.status).toBe(201);
    expect(bobs.body.id).not.toBe(net.body.id);
    // A day later the record has expired: the same request runs afresh, and the sweep deletes what expired.
    await srv.server.db.run((db) =>
      db.idempotencyRecord.updateMany({ where: { ownerId: 'bob' }, data: { expiresAt: new Date(Date.now() - 1000) } }),
    );
    const fresh = await bob('POST', '/api/v1/agents/networks', { name: 'keyed', agents: bobs.body.agents }, key('net'));
    expect(fresh.status).toBe(201);
    expect(fresh.body.id).not.toBe(bobs.body.id);
    await srv.server.db.run((db) =>
      db.idempotencyRecord.updateMany({ where: { ownerId: 'bob' }, data: { expiresAt: new Date(Date.now() - 1000) } }),
    );
    expect(await forgetExpiredSubmits(srv.server.db, 0)(new Date())).toEqual({ idempotencyForgotten: 1 });
    expect(await srv.server.db.run((db) => db.idempotencyRecord.count({ where: { ownerId: 'bob' } }))).toBe(0);
  });

  it('answers a repeated coordinate with the first answer', async () => {
    const body = { swarm_id: swarmId, strategy: 'broadcast', collaborators: 1, task: { say: 'hi' } };
    const first = await alice('POST', '/swarm/coordinate', body, key('coord'));
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const again = await alice('POST', '/swarm/coordinate', body, key('coord'));
    expect([again.status, again.body]).toEqual([202, first.body]);
    expect(await srv.server.db.run((db) => db.swarmCoordination.count({ where: { taskId: first.body.task_id } }))).toBe(1);
  });

  it('stores no secret for key.create: its repeat names the key issued, and issues nothing', async () => {
    const first = await alice('POST', '/api/v1/keys', { scope: 'read', label: 'once' }, key('issue'));
    expect(first.status).toBe(201);
    const count = await srv.server.db.run((db) => db.apiKey.count({ where: { ownerId: 'alice' } }));
    const again = await alice('POST', '/api/v1/keys', { scope: 'read', label: 'once' }, key('issue'));
    expect(again.status).toBe(409);
    expect(again.body.message).toContain(`already issued API key ${first.body.id}`);
    expect(await srv.server.db.run((db) => db.apiKey.count({ where: { ownerId: 'alice' } }))).toBe(count);
    const stored = await srv.server.db.run((db) => db.idempotencyRecord.findFirst({ where: { key: `issue-${kind}` } }));
    expect(stored!.response).not.toContain(first.body.key);
    expect(JSON.parse(stored!.response!)).not.toHaveProperty('key');
  });

  it('keeps nothing for a refused submit: its repeat, once the cause is gone, runs', async () => {
    expect((await alice('PATCH', `/api/v1/agents/networks/${networkId}`, { status: 'paused' })).status).toBe(200);
    const refused = await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, { task: { x: 1 } }, key('paused'));
    expect(refused.status).toBe(409);
    expect((await alice('PATCH', `/api/v1/agents/networks/${networkId}`, { status: 'active' })).status).toBe(200);
    const ran = await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, { task: { x: 1 } }, key('paused'));
    expect(ran.status).toBe(202);
  });

  it('documents the Idempotency-Key header on each submit', async () => {
    const doc = (await alice('GET', '/openapi.json')).body;
    const submits = [
      ['/api/v1/agents/networks/{network_id}/execute', 'post'],
      ['/swarm/coordinate', 'post'],
      ['/api/v1/agents/networks', 'post'],
      ['/api/v1/keys', 'post'],
    ];
    for (const [path, method] of submits) {
      const parameters = doc.paths[path!][method!].parameters ?? [];
      expect(
        parameters.some((p: { in: string; name: string }) => p.in === 'header' && p.name === 'idempotency-key'),
        path,
      ).toBe(true);
    }
  });
});

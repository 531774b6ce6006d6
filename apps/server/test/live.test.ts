// What the dashboard reads besides the swarm and network procedures: the live
// change stream (tRPC over SSE, the key in a header), the task board, the
// throughput history and the admins' view of every owner. Each is scoped to
// the key's owner. Runs on SQLite and PostgreSQL (where changes travel by
// LISTEN/NOTIFY).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LISTENER_NAME, type ServerEvent } from '../src/events.ts';
import { expireCoordinations } from '../src/swarms/coordinations.ts';
import { detectMemberFailures } from '../src/swarms/membership.ts';
import { databaseKinds } from './support/databases.ts';
import { restClient } from './support/http.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { eventually, sleep } from './support/waiting.ts';

type Call = ReturnType<typeof restClient>;

interface Stream {
  messages: { kind: string; everything: boolean; swarm_ids: string[]; task_ids: string[] }[];
  errors: string[];
  ended: Promise<void>;
  close(): void;
}

/** A `live.changes` subscription as the dashboard opens it: GET, text/event-stream, X-Api-Key. */
async function subscribe(url: string, key: string): Promise<Stream> {
  const abort = new AbortController();
  const res = await fetch(`${url}/trpc/live.changes`, { headers: { 'x-api-key': key, accept: 'text/event-stream' }, signal: abort.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const stream: Stream = { messages: [], errors: [], ended: Promise.resolve(), close: () => abort.abort() };
  stream.ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const type = /^event: (.*)$/m.exec(event)?.[1];
          const data = /^data: (.*)$/m.exec(event)?.[1];
          if (type === 'serialized-error' && data) stream.errors.push(data);
          else if (!type && data) stream.messages.push(JSON.parse(data));
        }
      }
    } catch {
      // aborted
    }
  })();
  return stream;
}

const trpcQuery = (call: Call, path: string, input: unknown = {}) =>
  call('GET', `/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`);

describe.each(databaseKinds)('the dashboard’s procedures on %s', (kind) => {
  let srv: TestServer;
  let alice: Call;
  let bob: Call;
  let admin: Call;
  let aliceKey: string;
  let bobKey: string;
  const streams: Stream[] = [];

  beforeAll(async () => {
    srv = await startTestServer(kind);
    aliceKey = await srv.keyFor('alice');
    bobKey = await srv.keyFor('bob');
    alice = restClient(srv.url, aliceKey);
    bob = restClient(srv.url, bobKey);
    admin = restClient(srv.url, srv.adminKey);
  });

  afterAll(async () => {
    for (const s of streams) s.close();
    await srv?.close();
  });

  it('streams each owner their own changes (an admin everyone’s), and nothing without a key', async () => {
    const [a, b, root] = await Promise.all([subscribe(srv.url, aliceKey), subscribe(srv.url, bobKey), subscribe(srv.url, srv.adminKey)]);
    streams.push(a, b, root);
    for (const s of [a, b, root]) await eventually(() => s.messages[0]?.kind === 'ready');

    const joined = await alice('POST', '/swarm/join', { role: 'monitor', capability: 'gpu' });
    expect(joined.status).toBe(201);
    const swarmId = joined.body.swarm_id as string;
    await eventually(() => a.messages.some((m) => m.kind === 'changed' && m.swarm_ids.includes(swarmId)));
    await eventually(() => root.messages.some((m) => m.kind === 'changed' && m.swarm_ids.includes(swarmId)));
    await sleep(300);
    // Bob heard nothing of Alice's swarm.
    expect(b.messages.every((m) => !m.swarm_ids.includes(swarmId))).toBe(true);

    const anonymous = await fetch(`${srv.url}/trpc/live.changes`, { headers: { accept: 'text/event-stream' } });
    const text = await anonymous.text();
    expect(text).toContain('UNAUTHORIZED');
  });

  it('ends a stream when its key is revoked', async () => {
    const created = await admin('POST', '/api/v1/keys', { owner_id: 'carol' });
    const carol = await subscribe(srv.url, created.body.key);
    streams.push(carol);
    await eventually(() => carol.messages[0]?.kind === 'ready');
    expect((await admin('DELETE', `/api/v1/keys/${created.body.id}`)).status).toBe(200);
    await eventually(() => carol.errors.length > 0);
    expect(carol.errors[0]).toContain('revoked');
  });

  it('lists an owner’s tasks with their consensus, and charts their throughput', async () => {
    const joined = await alice('POST', '/swarm/join', { role: 'monitor', capability: 'cpu' });
    const coordinated = await alice('POST', '/swarm/coordinate', {
      task_id: 'one-vote',
      swarm_id: joined.body.swarm_id,
      strategy: 'consensus',
      collaborators: 1,
      task: 'x',
    });
    expect(coordinated.status, JSON.stringify(coordinated.body)).toBe(202);
    const claim = await alice('POST', `/swarm/members/${joined.body.member_id}/claim`, {});
    const s = claim.body.subtask;
    expect((await alice('POST', `/api/v1/subtasks/${s.subtask_id}/result`, { lease_id: s.lease_id, result: 7 })).status).toBe(200);

    const tasks = await trpcQuery(alice, 'live.tasks', { limit: 5 });
    expect(tasks.status).toBe(200);
    const [task] = tasks.body.result.data.tasks;
    expect(task).toMatchObject({
      task_id: 'one-vote',
      status: 'completed',
      progress: 100,
      consensus: { consensus_reached: true, votes: [{ count: 1 }] },
    });
    expect((await trpcQuery(bob, 'live.tasks', {})).body.result.data).toEqual({ tasks: [], total_count: 0 });
    expect((await trpcQuery(bob, 'live.tasks', { swarm_id: joined.body.swarm_id })).status).toBe(404);

    const history = await trpcQuery(alice, 'history.throughput', { swarm_id: joined.body.swarm_id });
    expect(history.status).toBe(200);
    const view = history.body.result.data;
    expect(view).toMatchObject({
      scope: 'swarm',
      id: joined.body.swarm_id,
      bucket_seconds: 60,
      truncated: false,
      totals: { completed: 1, failed: 0 },
    });
    expect(view.points).toHaveLength(60);
    // The completion is in the last minute's bucket, or the one before when a minute turned since.
    const filled = view.points.slice(-2).filter((p: { completed: number }) => p.completed > 0);
    expect(filled).toHaveLength(1);
    expect(filled[0]).toMatchObject({ completed: 1 });
    expect(filled[0].p95_task_time).toBeGreaterThanOrEqual(0);
    // Another owner's swarm, and an unknown network, are not found; exactly one of the two ids is needed.
    expect((await trpcQuery(bob, 'history.throughput', { swarm_id: joined.body.swarm_id })).status).toBe(404);
    expect((await trpcQuery(alice, 'history.throughput', { network_id: 'nope' })).status).toBe(404);
    expect((await trpcQuery(alice, 'history.throughput', {})).status).toBe(400);
  });

  it('shows every owner to an admin only', async () => {
    expect((await trpcQuery(alice, 'live.owners', undefined)).status).toBe(403);
    const owners = await trpcQuery(admin, 'live.owners', undefined);
    expect(owners.status).toBe(200);
    const byOwner = new Map((owners.body.result.data.owners as { owner_id: string }[]).map((o) => [o.owner_id, o]));
    expect(byOwner.get('alice')).toMatchObject({ keys: 1, swarms: 2, members: { active: 2 }, tasks_active: 0 });
    expect(byOwner.get('bob')).toMatchObject({ keys: 1, swarms: 0 });
  });

  // One trigger per kind of server event (the Record's type makes a new kind in the union add one here), each fired
  // for Ann with real calls and the sweep's own passes; Ben's stream must carry none of them, not even an id.
  it('passes another owner none of the events of any kind, the sweep’s included', async () => {
    const annKey = await srv.keyFor('ann');
    const ann = restClient(srv.url, annKey);
    const ben = await subscribe(srv.url, await srv.keyFor('ben'));
    const root = await subscribe(srv.url, srv.adminKey);
    streams.push(ben, root);
    for (const s of [ben, root]) await eventually(() => s.messages[0]?.kind === 'ready');
    const fired: ServerEvent[] = [];
    const unsubscribe = srv.server.events.subscribe((e) => fired.push(e));
    const later = () => new Date(Date.now() + 3_600_000);
    const body = async (reply: Promise<{ status: number; body: any }>) => {
      const r = await reply;
      expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
      return r.body;
    };
    const joinAnn = (extra: Record<string, unknown> = {}) =>
      body(ann('POST', '/swarm/join', { role: 'monitor', capability: 'ann', ...extra }));
    const triggers: Record<ServerEvent['kind'], () => Promise<void>> = {
      'key.revoked': async () => {
        const k = await body(ann('POST', '/api/v1/keys', { scope: 'read' }));
        await body(ann('DELETE', `/api/v1/keys/${k.id}`));
      },
      'key.changed': async () => {
        const k = await body(ann('POST', '/api/v1/keys', { scope: 'read' }));
        await body(ann('POST', `/api/v1/keys/${k.id}/rotate`, { grace_seconds: 0 }));
      },
      'member.left': async () => {
        const m = await joinAnn();
        await body(ann('POST', '/swarm/leave', { swarm_id: m.swarm_id, member_id: m.member_id }));
      },
      'swarm.changed': async () => void (await joinAnn({ suspect_after_seconds: 60, fail_after_seconds: 120 })),
      // The LISTEN connection cut and made again (PostgreSQL); SQLite has no bus to lose, so its live router is told directly.
      'bus.reconnected': async () => {
        if (kind !== 'postgresql') return srv.server.events.publish({ kind: 'bus.reconnected' });
        const pg = (await import('pg')).default;
        const admin = new pg.Client({ connectionString: srv.database.target.url });
        await admin.connect();
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
          [LISTENER_NAME],
        );
        await admin.end();
      },
      'work.assigned': async () => {
        const agent = await body(ann('POST', '/api/v1/agents', { name: 'ann-1' }));
        const network = await body(ann('POST', '/api/v1/agents/networks', { name: 'ann', agents: [agent.id] }));
        await body(ann('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { items: [1] } }));
        await body(ann('POST', `/api/v1/agents/${agent.id}/claim`, { lease_seconds: 1 }));
      },
      'work.urgent': async () => {
        const agent = await body(ann('POST', '/api/v1/agents', { name: 'ann-2' }));
        const network = await body(ann('POST', '/api/v1/agents/networks', { name: 'ann-high', agents: [agent.id] }));
        await body(ann('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { items: [1] }, priority: 'high' }));
      },
      'work.changed': async () => {
        // The sweep's moves: a lease that ran out (from the claim above), a silent member, a task past its deadline.
        const m = await joinAnn();
        await body(ann('POST', '/swarm/coordinate', { swarm_id: m.swarm_id, strategy: 'consensus', collaborators: 1, timeout_seconds: 1 }));
        await srv.server.heartbeats.flush({ all: true });
        await srv.server.work.sweep(later());
        await detectMemberFailures(srv.server.db, srv.server.work, later());
        await expireCoordinations(srv.server.db, srv.server.work, later());
      },
    };
    for (const [kind, trigger] of Object.entries(triggers)) {
      const before = fired.length;
      await trigger();
      await eventually(() => fired.slice(before).some((e) => e.kind === kind));
    }
    // The sweep's passes each said whose work moved (its later clock moved other owners' too: they say theirs).
    const changes = fired.filter((e) => e.kind === 'work.changed');
    for (const id of ['execution_id', 'swarm_id', 'task_id'] as const)
      expect(changes.some((e) => e.owner_id === 'ann' && e[id])).toBe(true);
    expect(changes.every((e) => typeof e.owner_id === 'string' && e.owner_id !== 'ben')).toBe(true);
    unsubscribe();
    await eventually(() => root.messages.some((m) => m.kind === 'changed'));
    await sleep(500);
    // Ben hears only that his view should re-read (a new stream, the bus back): never a change, never an id.
    expect(ben.messages.length).toBeGreaterThan(0);
    for (const m of ben.messages) expect(m).toMatchObject({ kind: 'ready', swarm_ids: [], task_ids: [] });
    expect(ben.errors).toEqual([]);
  });
});

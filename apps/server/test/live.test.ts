// What the dashboard reads besides the swarm and network procedures: the live
// change stream (tRPC over SSE, the key in a header), the task board, the
// throughput history and the admins' view of every owner. Each is scoped to
// the key's owner. Runs on SQLite and PostgreSQL (where changes travel by
// LISTEN/NOTIFY).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    // Bob heard nothing of Alice's swarm (only sweeper ticks, which name nobody).
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
});

// GET /metrics: Prometheus text scraped before and after real work done over
// HTTP (members join, a consensus task is voted on and decided, a lease runs
// out, a task times out), and the series must move with it. Routes are
// labelled by pattern, never by raw URL. Access: an admin key, or no key from
// 127.0.0.1; AITBC_METRICS=off removes the route. Runs on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { restClient } from './support/http.ts';
import { loadConfig } from '../src/config.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { eventually } from './support/waiting.ts';

type Call = ReturnType<typeof restClient>;

/** The samples of a scrape: `name{labels}` → value. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include every one given (0 when none). */
function value(samples: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [key, v] of samples) {
    const brace = key.indexOf('{');
    if ((brace < 0 ? key : key.slice(0, brace)) !== name) continue;
    if (Object.entries(labels).every(([k, l]) => key.includes(`${k}="${l}"`))) sum += v;
  }
  return sum;
}

describe.each(databaseKinds)('/metrics on %s', (kind) => {
  let srv: TestServer;
  let alice: Call;
  let aliceKey: string;

  async function scrape(): Promise<Map<string, number>> {
    const res = await fetch(`${srv.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parse(await res.text());
  }

  async function join(role: string) {
    const r = await alice('POST', '/swarm/join', { role, capability: 'gpu' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body as { swarm_id: string; member_id: string };
  }

  async function claim(memberId: string, leaseSeconds?: number) {
    const r = await alice('POST', `/swarm/members/${memberId}/claim`, leaseSeconds ? { lease_seconds: leaseSeconds } : {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.subtask as { subtask_id: string; lease_id: string } | null;
  }

  beforeAll(async () => {
    srv = await startTestServer(kind, { sweepIntervalMs: 100 });
    aliceKey = await srv.keyFor('alice');
    alice = restClient(srv.url, aliceKey);
  });

  afterAll(async () => {
    await srv?.close();
  });

  it('serves the series, and they move when work runs', async () => {
    const before = await scrape();
    for (const name of [
      'aitbc_http_requests_total',
      'aitbc_swarm_members',
      'aitbc_queue_depth',
      'aitbc_subtasks_in_flight',
      'aitbc_leases_expired_total',
      'aitbc_leases_released_total',
      'aitbc_consensus_total',
      'aitbc_db_unit_duration_seconds_count',
      'process_cpu_user_seconds_total',
    ]) {
      expect(
        [...before.keys()].some((k) => k === name || k.startsWith(`${name}{`)),
        name,
      ).toBe(true);
    }
    expect(value(before, 'aitbc_swarm_members', { state: 'active' })).toBe(0);

    // Three members, and a consensus task for them: three votes wait in the queue.
    const members = [await join('monitor'), await join('task-coordinator'), await join('load-balancer')];
    const coordinated = await alice('POST', '/swarm/coordinate', {
      task_id: 'vote-1',
      strategy: 'consensus',
      collaborators: 3,
      task: 'what is 6*7',
    });
    expect(coordinated.status, JSON.stringify(coordinated.body)).toBe(202);
    const queued = await scrape();
    expect(value(queued, 'aitbc_swarm_members', { state: 'active' })).toBe(3);
    expect(value(queued, 'aitbc_queue_depth', { source: 'swarm' })).toBe(3);
    expect(value(queued, 'aitbc_subtasks_in_flight', { source: 'swarm' })).toBe(0);

    // Each member claims its vote: in flight.
    const leases = await Promise.all(members.map((m) => claim(m.member_id)));
    const working = await scrape();
    expect(value(working, 'aitbc_queue_depth', { source: 'swarm' })).toBe(0);
    expect(value(working, 'aitbc_subtasks_in_flight', { source: 'swarm' })).toBe(3);

    // The votes: two agree, consensus is decided.
    for (const [i, lease] of leases.entries()) {
      const posted = await alice('POST', `/api/v1/subtasks/${lease!.subtask_id}/result`, {
        lease_id: lease!.lease_id,
        result: { answer: i === 2 ? 43 : 42 },
      });
      expect(posted.status, JSON.stringify(posted.body)).toBe(200);
    }
    expect((await alice('GET', '/swarm/tasks/vote-1/status')).body).toMatchObject({
      status: 'completed',
      consensus: { consensus_reached: true },
    });

    // A task whose one vote is claimed and abandoned: the lease runs out, then the task times out undecided.
    const abandoned = await alice('POST', '/swarm/coordinate', {
      task_id: 'vote-2',
      strategy: 'consensus',
      collaborators: 1,
      task: 'anyone?',
      timeout_seconds: 2,
      parameters: { lease_seconds: 1 },
    });
    expect(abandoned.status, JSON.stringify(abandoned.body)).toBe(202);
    const holder = members.find((m) => (abandoned.body.assigned_members as string[]).includes(m.member_id))!;
    expect(await claim(holder.member_id, 1)).not.toBeNull();
    await eventually(async () => ['failed', 'timed_out'].includes((await alice('GET', '/swarm/tasks/vote-2/status')).body.status), 15_000);

    const after = await scrape();
    expect(
      value(after, 'aitbc_consensus_total', { outcome: 'reached' }) - value(before, 'aitbc_consensus_total', { outcome: 'reached' }),
    ).toBe(1);
    expect(
      value(after, 'aitbc_consensus_total', { outcome: 'failed' }) - value(before, 'aitbc_consensus_total', { outcome: 'failed' }),
    ).toBe(1);
    expect(value(after, 'aitbc_leases_expired_total') - value(before, 'aitbc_leases_expired_total')).toBeGreaterThanOrEqual(1);
    // Counted apart: no member failed or left, so no lease was released for that.
    expect(value(after, 'aitbc_leases_released_total', { reason: 'member_failed' })).toBe(0);
    expect(value(after, 'aitbc_leases_released_total', { reason: 'member_left' })).toBe(0);
    expect(value(after, 'aitbc_queue_depth', { source: 'swarm' })).toBe(0);
    expect(value(after, 'aitbc_subtasks_in_flight', { source: 'swarm' })).toBe(0);

    // HTTP: each request counted under its route pattern, with its latency.
    const joins = { method: 'POST', route: '/swarm/join', status: '201' };
    expect(value(after, 'aitbc_http_requests_total', joins) - value(before, 'aitbc_http_requests_total', joins)).toBe(3);
    expect(value(after, 'aitbc_http_request_duration_seconds_count', joins)).toBe(3);
    expect(value(after, 'aitbc_http_request_duration_seconds_sum', joins)).toBeGreaterThan(0);
    expect(
      value(after, 'aitbc_http_requests_total', { method: 'POST', route: '/swarm/members/{member_id}/claim', status: '200' }),
    ).toBeGreaterThanOrEqual(4);
    expect(
      value(after, 'aitbc_http_requests_total', { method: 'GET', route: '/swarm/tasks/{task_id}/status', status: '200' }),
    ).toBeGreaterThanOrEqual(2);
    expect(value(after, 'aitbc_http_requests_total', { method: 'GET', route: '/metrics', status: '200' })).toBeGreaterThanOrEqual(3);
    // The database units behind all of it.
    expect(value(after, 'aitbc_db_unit_duration_seconds_count', { kind: 'transaction', ok: 'true' })).toBeGreaterThan(
      value(before, 'aitbc_db_unit_duration_seconds_count', { kind: 'transaction', ok: 'true' }),
    );
    // Never a raw URL: no id of any object appears in a label.
    const text = [...after.keys()].join('\n');
    for (const id of [...members.map((m) => m.member_id), members[0]!.swarm_id, 'vote-1', 'vote-2']) expect(text).not.toContain(id);
  });

  it('counts a lease taken from a failed member as released, not as expired', async () => {
    const before = await scrape();
    const joined = await alice('POST', '/swarm/join', {
      role: 'monitor',
      capability: 'fragile',
      suspect_after_seconds: 1,
      fail_after_seconds: 1,
    });
    expect(joined.status, JSON.stringify(joined.body)).toBe(201);
    const t = await alice('POST', '/swarm/coordinate', {
      strategy: 'distributed',
      parameters: { capability: 'fragile', collaborators: 1, items: [1], lease_seconds: 600 },
    });
    expect(t.status, JSON.stringify(t.body)).toBe(202);
    expect(await claim(joined.body.member_id)).not.toBeNull();
    // Silent from now on: failed within about a second, and its 600-second lease is taken from it.
    const after = await eventually(async () => {
      const now = await scrape();
      return value(now, 'aitbc_leases_released_total', { reason: 'member_failed' }) >
        value(before, 'aitbc_leases_released_total', { reason: 'member_failed' })
        ? now
        : undefined;
    }, 15_000);
    expect(value(after, 'aitbc_leases_expired_total')).toBe(value(before, 'aitbc_leases_expired_total'));
  });

  it('labels tRPC calls by procedure, and unknown paths as unmatched', async () => {
    const whoami = await fetch(`${srv.url}/trpc/key.whoami?input=${encodeURIComponent('{}')}`, { headers: { 'x-api-key': aliceKey } });
    expect(whoami.status).toBe(200);
    expect((await fetch(`${srv.url}/no/such/page/12345`)).status).toBe(404);
    const samples = await scrape();
    expect(value(samples, 'aitbc_http_requests_total', { method: 'GET', route: '/trpc/key.whoami', status: '200' })).toBe(1);
    expect(value(samples, 'aitbc_http_requests_total', { method: 'GET', route: '(unmatched)', status: '404' })).toBeGreaterThanOrEqual(1);
    expect([...samples.keys()].join('\n')).not.toContain('12345');
  });

  it('answers an admin key from anywhere, no key only on loopback, and refuses other keys', async () => {
    const app = srv.server.app;
    // Not from loopback: a key is needed, and it must be an admin's.
    const remote = { method: 'GET' as const, url: '/metrics', remoteAddress: '10.1.2.3' };
    expect((await app.inject(remote)).statusCode).toBe(401);
    const admin = await app.inject({ ...remote, headers: { 'x-api-key': srv.adminKey } });
    expect(admin.statusCode).toBe(200);
    expect(admin.body).toContain('aitbc_swarm_members');
    const owner = await app.inject({ ...remote, headers: { 'x-api-key': aliceKey } });
    expect(owner.statusCode).toBe(403);
    expect(owner.json()).toMatchObject({ code: 'FORBIDDEN' });
    // A request a local reverse proxy forwarded is not a local one.
    expect((await fetch(`${srv.url}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(401);
    // On loopback too, a key that is presented must be an admin's.
    expect((await fetch(`${srv.url}/metrics`, { headers: { 'x-api-key': aliceKey } })).status).toBe(403);
    expect((await fetch(`${srv.url}/metrics`, { headers: { 'x-api-key': 'made-up' } })).status).toBe(401);
    expect((await fetch(`${srv.url}/metrics`, { headers: { 'x-api-key': srv.adminKey } })).status).toBe(200);
  });
});

describe('/metrics with AITBC_METRICS=off', () => {
  let srv: TestServer;

  beforeAll(async () => {
    // What loadConfig makes of AITBC_METRICS=off.
    srv = await startTestServer('sqlite', { config: { metricsEnabled: loadConfig({ AITBC_METRICS: 'off' }).metricsEnabled } });
  });

  afterAll(async () => {
    await srv?.close();
  });

  it('is not served at all', async () => {
    const res = await fetch(`${srv.url}/metrics`, { headers: { 'x-api-key': srv.adminKey } });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'NOT_FOUND' });
  });
});

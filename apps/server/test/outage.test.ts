// PostgreSQL faults, in one process, on the shared test cluster (each on a
// scratch database of its own, or behind a TCP proxy, so the cluster itself
// is never stopped): terminated backends, an unreachable or silent database,
// a read-only one, and the event bus losing its LISTEN connection.
// apps/cli/test/faults.test.ts does the same to real processes on a
// private cluster that it restarts, crashes and pauses.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Availability, type OutageLog } from '../src/db/availability.ts';
import { Database } from '../src/db/database.ts';
import { migrateDatabase } from '../src/db/migrate.ts';
import { sql } from '../src/db/sql.ts';
import type { ServerEvent } from '../src/events.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.ts';
import { restClient } from './support/http.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';
import { eventually, sleep } from './support/waiting.ts';

const postgres = databaseKinds.includes('postgresql');
if (!postgres) console.log('[outage] PostgreSQL suites SKIPPED: no PostgreSQL for tests (these faults are PostgreSQL’s)');

/** One statement as the superuser, on its own connection (never one of the server's). */
async function admin<T = Record<string, unknown>>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  // Writable even while the database's sessions default to read-only.
  const client = new pg.Client({
    connectionString: url,
    application_name: 'aitbc-test-admin',
    options: '-c default_transaction_read_only=off',
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** pg_terminate_backend on the database's client connections (optionally only those with this application_name). */
async function terminate(url: string, applicationName?: string): Promise<number> {
  const rows = await admin<{ ended: boolean }>(
    url,
    `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
        AND application_name <> 'aitbc-test-admin' AND ($1::text IS NULL OR application_name = $1)`,
    [applicationName ?? null],
  );
  return rows.filter((r) => r.ended).length;
}

/** The outage lines the database layer logged. */
function capture(): OutageLog & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  return {
    lines,
    error: (_f, message) => void lines.push({ level: 'error', message }),
    warn: (_f, message) => void lines.push({ level: 'warn', message }),
  };
}

describe.skipIf(!postgres)('connections PostgreSQL ends', () => {
  let tdb: TestDatabase;
  let db: Database;
  const warnings: string[] = [];
  const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`);

  beforeAll(async () => {
    process.on('warning', onWarning);
    tdb = await createTestDatabase('postgresql');
    await migrateDatabase(tdb.target);
    db = await Database.connect(tdb.target);
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    await db?.close();
    await tdb?.drop();
  });

  it("a backend terminated between a transaction's statements ends nothing but that attempt: it runs again on another connection", async () => {
    let attempts = 0;
    const pids: number[] = [];
    const result = await db.transaction(async (tx) => {
      attempts++;
      const { pid } = (await tx.sql.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS "pid"`))!;
      pids.push(pid);
      if (attempts === 1) {
        // Idle in the transaction: the connection is checked out, and its 'error' event has only our listener.
        await admin(tdb.target.url, 'SELECT pg_terminate_backend($1)', [pid]);
        await sleep(200);
      }
      // Through Prisma, joined to the transaction on the same connection.
      await tx.agent.create({ data: { ownerId: 'cut', name: `cut-${attempts}`, capabilities: [] } });
      return attempts;
    });
    expect(result).toBe(2);
    expect(pids[1]).not.toBe(pids[0]);
    // Only the second attempt's write exists; the cut one rolled back.
    expect((await db.run((q) => q.agent.findMany({ where: { ownerId: 'cut' } }))).map((a) => a.name)).toEqual(['cut-2']);
    // Not an outage: the probe found the database answering.
    await sleep(300);
    expect([db.availability.state, db.availability.outages]).toEqual(['up', 0]);
  });

  it('a backend terminated mid-statement, and every other one at once: the pool drops them and serves on', async () => {
    const slow = Array.from({ length: 6 }, (_, i) =>
      db.transaction(async (tx) => {
        await tx.sql.one(sql`SELECT pg_sleep(0.3)`);
        return i;
      }),
    );
    await sleep(100);
    expect(await terminate(tdb.target.url)).toBeGreaterThan(0);
    // Cut before COMMIT, each ran again.
    expect(await Promise.all(slow)).toEqual([0, 1, 2, 3, 4, 5]);
    for (let i = 0; i < 20; i++) expect(await db.run((_, q) => q.one(sql`SELECT 1 AS "one"`))).toEqual({ one: 1 });
  });

  it('a probe whose own backend is terminated is no outage while other units get answers, and one when none do', async () => {
    // The probe's connection is ended mid-query, as pg_terminate_backend on every backend does to a probe in flight.
    const cutProbe = (meanwhile: () => Promise<void>) => async () => {
      const client = new pg.Client({ connectionString: tdb.target.url, application_name: 'aitbc-probe-cut' });
      client.on('error', () => undefined);
      await client.connect();
      try {
        await meanwhile();
        await client.query('SELECT pg_terminate_backend(pg_backend_pid())');
        return 'up' as const;
      } finally {
        void client.end().catch(() => undefined);
      }
    };
    const answering = new Availability(
      cutProbe(async () => {
        await db.run((_, q) => q.one(sql`SELECT 1 AS "one"`));
        answering.answered();
      }),
    );
    const silent = new Availability(cutProbe(async () => undefined));
    for (const a of [answering, silent]) {
      a.log = capture();
      a.stalled('a unit of work had no answer');
    }
    try {
      await eventually(() => silent.state === 'unreachable', 5_000);
      await sleep(300);
      expect([answering.state, answering.outages, (answering.log as ReturnType<typeof capture>).lines]).toEqual(['up', 0, []]);
      expect((silent.log as ReturnType<typeof capture>).lines[0]?.message).toMatch(/unreachable \(terminating connection/);
    } finally {
      answering.close();
      silent.close();
    }
  });

  it('statements a unit of work starts at once on its transaction run one after another (no concurrent client.query)', async () => {
    const answers = await db.transaction((tx) =>
      Promise.all([
        tx.sql.one<{ n: number }>(sql`SELECT 1 AS "n"`),
        tx.sql.one<{ n: number }>(sql`SELECT 2 AS "n"`),
        tx.agent.count({ where: { ownerId: 'cut' } }),
        tx.sql.one<{ n: number }>(sql`SELECT 3 AS "n"`),
      ]),
    );
    expect(answers).toEqual([{ n: 1 }, { n: 2 }, 1, { n: 3 }]);
    expect(warnings.filter((w) => /already executing a query/.test(w))).toEqual([]);
  });
});

describe.skipIf(!postgres)('a database that is unreachable, then back', () => {
  let tdb: TestDatabase;
  let proxy: TcpProxy;
  let server: RunningServer;
  let dataDir: string;
  const adminKey = `outage-admin-${Date.now()}`;
  const log = capture();

  beforeAll(async () => {
    tdb = await createTestDatabase('postgresql');
    const u = new URL(tdb.target.url);
    proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
    dataDir = mkdtempSync(join(tmpdir(), 'aitbc-outage-'));
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir,
      databaseUrl: proxy.through(tdb.target.url),
      adminApiKeys: [adminKey],
      bodyLimit: 1024 * 1024,
      logLevel: 'silent',
      sweepIntervalMs: 100,
      // Written only when the test says: a heartbeat must be in the buffer when the database goes.
      heartbeatFlushMs: 60_000,
    });
    server.db.availability.log = log;
  });
  afterAll(async () => {
    proxy?.open();
    await server?.close();
    await proxy?.close();
    await tdb?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After on REST and tRPC, /healthz says unreachable, long polls end early, and nothing acknowledged is lost', async () => {
    const owner = restClient(server.url, adminKey);
    const key = (await owner('POST', '/api/v1/keys', { owner_id: 'olga' })).body.key as string;
    const call = restClient(server.url, key);
    const agent = (await call('POST', '/api/v1/agents', { name: 'waiting' })).body;
    const member = (
      await call('POST', '/swarm/join', { role: 'monitor', capability: 'outage', suspect_after_seconds: 60, fail_after_seconds: 120 })
    ).body;
    const vote = await call('POST', '/swarm/coordinate', {
      swarm_id: member.swarm_id,
      strategy: 'consensus',
      collaborators: 1,
      parameters: { capability: 'outage', payload: { q: 1 } },
    });
    expect(vote.status).toBe(202);
    // Waiting since before the outage: a claim for work, a task's end.
    const waiting = call('POST', `/api/v1/agents/${agent.id}/claims`, { max: 1, wait_seconds: 25 });
    const task = call('GET', `/swarm/tasks/${vote.body.task_id}/status?wait_seconds=25`);
    await sleep(200);
    // Acknowledged, still in the buffer (flushes every minute here).
    const beat = await call('POST', `/swarm/members/${member.member_id}/heartbeat`, {});
    expect(beat.status).toBe(200);

    const cutAt = performance.now();
    proxy.down();
    // The first request may meet a cut connection, later ones the known outage: 503 either way, never 500.
    for (let i = 0; i < 5; i++) {
      const listed = await call('GET', '/api/v1/agents');
      expect(listed.status, JSON.stringify(listed.body)).toBe(503);
      expect(listed.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(listed.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: expect.stringMatching(/database is unreachable/) });
    }
    const viaTrpc = await fetch(`${server.url}/trpc/agent.list?input=${encodeURIComponent('{}')}`, { headers: { 'x-api-key': key } });
    expect(viaTrpc.status).toBe(503);
    expect(viaTrpc.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await viaTrpc.json()) as { error: { message: string } }).error.message).toMatch(/database is unreachable/);
    await eventually(() => server.db.availability.state === 'unreachable', 10_000);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { database: unknown }).database).toMatchObject({ state: 'unreachable', reachable: false });
    // The waiting claim answered, empty, long before its 25 s; the task status wait with the status it read.
    const claimed = await waiting;
    expect(claimed.status).toBe(200);
    expect(claimed.body.subtasks).toEqual([]);
    const status = await task;
    expect(status.status).toBe(200);
    expect(status.body.status).not.toBe('completed');
    expect(performance.now() - cutAt).toBeLessThan(15_000);
    // The buffered heartbeat cannot be written now, and is kept.
    await expect(server.heartbeats.flush({ all: true })).rejects.toThrow();
    await sleep(500); // sweeps meanwhile say nothing

    proxy.open();
    await eventually(async () => (await call('GET', '/api/v1/agents')).status === 200, 15_000);
    expect(server.db.availability.state).toBe('up');
    await server.heartbeats.flush({ all: true });
    const stored = await admin<{ at: unknown }>(
      tdb.target.url,
      `SELECT "last_heartbeat_at" AS "at" FROM "swarm_members" WHERE "member_id" = $1`,
      [member.member_id],
    );
    expect(timestamp(stored[0]!.at)).toBe(beat.body.last_heartbeat_at);
    // One line when it went, one when it came back, however many requests and sweeps failed between.
    expect(log.lines.map((l) => l.level)).toEqual(['error', 'warn']);
    expect(log.lines[0]!.message).toMatch(/^database unreachable \(.*\): requests answer 503 until it is back$/);
    expect(log.lines[1]!.message).toMatch(/^database reachable again after \d+(\.\d)? s$/);
    expect(server.db.availability.outages).toBe(1);
  });

  it('a silent database (paused, partitioned) is found out by the stall watchdog; its requests answer once it speaks again', async () => {
    log.lines.length = 0;
    const owner = restClient(server.url, adminKey);
    proxy.silent();
    const held = owner('GET', '/api/v1/keys');
    await eventually(() => server.db.availability.state === 'unreachable', 15_000);
    // Known down: at once, without waiting for a connection.
    const started = performance.now();
    expect((await owner('GET', '/api/v1/agents')).status).toBe(503);
    expect(performance.now() - started).toBeLessThan(1000);
    proxy.open();
    expect([200, 503]).toContain((await held).status);
    await eventually(async () => (await owner('GET', '/api/v1/agents')).status === 200, 15_000);
    expect(log.lines.map((l) => l.level)).toEqual(['error', 'warn']);
  });
});

/** A timestamp column read by pg (a Date, or text without a zone, which is UTC here) as ISO text. */
function timestamp(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  return new Date(`${String(value).replace(' ', 'T')}Z`).toISOString();
}

describe.skipIf(!postgres)('a read-only database', () => {
  let srv: TestServer;

  beforeAll(async () => {
    srv = await startTestServer('postgresql', { config: { heartbeatFlushMs: 60_000 } });
  });
  afterAll(async () => {
    await admin(
      srv.database.target.url,
      `ALTER DATABASE "${new URL(srv.database.target.url).pathname.slice(1)}" RESET default_transaction_read_only`,
    );
    await srv?.close();
  });

  it('answers writes 503 and reads 200, keeps acknowledged heartbeats, and takes writes again when it does', async () => {
    const url = srv.database.target.url;
    const name = new URL(url).pathname.slice(1);
    const call = restClient(srv.url, await srv.keyFor('rita'));
    const member = (
      await call('POST', '/swarm/join', { role: 'monitor', capability: 'ro', suspect_after_seconds: 60, fail_after_seconds: 120 })
    ).body;
    // New sessions start read-only; the server's are ended, so its pool reconnects into that.
    await admin(url, `ALTER DATABASE "${name}" SET default_transaction_read_only = on`);
    await terminate(url);

    await eventually(async () => (await call('POST', '/api/v1/agents', { name: 'refused' })).status === 503, 10_000);
    const refused = await call('POST', '/api/v1/agents', { name: 'refused' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(refused.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: expect.stringMatching(/read-only/) });
    expect((await call('GET', '/api/v1/agents')).status).toBe(200);
    const health = await fetch(`${srv.url}/healthz`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { database: unknown }).database).toMatchObject({ state: 'read-only', reachable: true });
    const beat = await call('POST', `/swarm/members/${member.member_id}/heartbeat`, {});
    expect(beat.status).toBe(200);
    await expect(srv.server.heartbeats.flush({ all: true })).rejects.toThrow(/read-only/);
    await eventually(() => srv.server.db.availability.state === 'read-only', 10_000);

    await admin(url, `ALTER DATABASE "${name}" RESET default_transaction_read_only`);
    await terminate(url);
    await eventually(async () => (await call('POST', '/api/v1/agents', { name: 'taken' })).status === 201, 10_000);
    await srv.server.heartbeats.flush({ all: true });
    const stored = await admin<{ at: unknown }>(url, `SELECT "last_heartbeat_at" AS "at" FROM "swarm_members" WHERE "member_id" = $1`, [
      member.member_id,
    ]);
    expect(timestamp(stored[0]!.at)).toBe(beat.body.last_heartbeat_at);
    expect((await call('GET', '/api/v1/agents')).body.agents.map((a: { name: string }) => a.name)).toEqual(['taken']);
  });
});

describe.skipIf(!postgres)('the event bus losing its LISTEN connection', () => {
  let a: TestServer;
  let b: RunningServer;
  let dataDir: string;

  beforeAll(async () => {
    a = await startTestServer('postgresql');
    dataDir = mkdtempSync(join(tmpdir(), 'aitbc-relisten-'));
    b = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir,
      databaseUrl: a.database.target.url,
      adminApiKeys: [a.adminKey],
      bodyLimit: 1024 * 1024,
      logLevel: 'silent',
      sweepIntervalMs: 200,
      heartbeatFlushMs: 100,
    });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('listens again, tells its subscribers to start afresh, and cross-instance wake-ups work again', async () => {
    const heard: { on: string; kind: ServerEvent['kind']; at: number }[] = [];
    const stops = [
      a.server.events.subscribe((e) => heard.push({ on: 'a', kind: e.kind, at: performance.now() })),
      b.events.subscribe((e) => heard.push({ on: 'b', kind: e.kind, at: performance.now() })),
    ];
    const key = await a.keyFor('lena');
    const onA = restClient(a.url, key);
    const onB = restClient(b.url, key);
    const agent = (await onA('POST', '/api/v1/agents', { name: 'sleeper' })).body;
    const network = (await onA('POST', '/api/v1/agents/networks', { name: 'relisten', agents: [agent.id] })).body;

    expect(await terminate(a.database.target.url, 'aitbc-events')).toBe(2);
    await eventually(() => ['a', 'b'].every((on) => heard.some((h) => h.on === on && h.kind === 'bus.reconnected')), 10_000);
    const reconnected = Math.max(...heard.filter((h) => h.kind === 'bus.reconnected').map((h) => h.at));
    expect(a.server.events.reconnects + b.events.reconnects).toBe(2);

    // A claim waiting on B wakes when work is submitted through A: NOTIFY reaches B's new connection.
    const waiting = onB('POST', `/api/v1/agents/${agent.id}/claims`, { max: 5, wait_seconds: 20 });
    await sleep(200);
    const submitted = performance.now();
    await onA('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { subtasks: [1, 2] } });
    const answer = await waiting;
    const woke = performance.now();
    expect(answer.body.subtasks.map((s: { payload: number }) => s.payload)).toEqual([1, 2]);
    expect(woke - submitted).toBeLessThan(1000);
    console.log(
      `[outage] LISTEN connections terminated: both instances listened again; a cross-instance wake-up ${Math.round(woke - reconnected)} ms after the later reconnection took ${Math.round(woke - submitted)} ms`,
    );
    for (const stop of stops) stop();
  });

  it('after bus.reconnected an instance forgets the keys it cached: a revocation it missed is enforced at once', async () => {
    const issued = await restClient(a.url, a.adminKey)('POST', '/api/v1/keys', { owner_id: 'mira' });
    const onB = restClient(b.url, issued.body.key);
    expect((await onB('GET', '/api/v1/whoami')).status).toBe(200); // cached on B for 2 s
    // Revoked behind every instance's back: no NOTIFY, as if B had not been listening when it was sent.
    await admin(a.database.target.url, `UPDATE "api_keys" SET "revoked_at" = now() WHERE "id" = $1`, [issued.body.id]);
    expect((await onB('GET', '/api/v1/whoami')).status).toBe(200);
    b.events.publish({ kind: 'bus.reconnected' });
    expect((await onB('GET', '/api/v1/whoami')).status).toBe(401);
  });
});

// One clock for fencing, engine level: two server processes on one
// PostgreSQL, one whose machine clock is 5 s fast (AITBC_TEST_CLOCK_OFFSET_MS,
// honoured under a test runner only). Leases are stamped and checked by the
// database's clock (clock.ts), so no lease is refused early by the fast
// instance, nor held late because the fast instance stamped it.
//
// Waits for the work engine to take its time from WorkEngineDeps.clock
// instead of `new Date()` (claims, lease heartbeats, results): until then it
// fails, and apps/server/vitest.config.ts leaves it out. Enable it there when
// the engine is wired.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../src/db/migrate.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.ts';
import { restClient } from './support/http.ts';
import { type ListeningServer, spawnServer } from './support/server-process.ts';
import { eventually, sleep } from './support/waiting.ts';

const SKEW_MS = 5000;
const LEASE = 3;

describe.skipIf(!databaseKinds.includes('postgresql'))('two instances, one of them 5 s fast, fence leases by one clock', () => {
  let tdb: TestDatabase;
  let fast: ListeningServer & { pid: number };
  let exact: ListeningServer & { pid: number };
  const dirs: string[] = [];
  const admin = `fencing-admin-${Date.now()}-0123456789`;
  let onFast: ReturnType<typeof restClient>;
  let onExact: ReturnType<typeof restClient>;

  /** The database's clock now (ms since the epoch). */
  async function databaseNow(): Promise<number> {
    const client = new pg.Client({ connectionString: tdb.target.url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<{ ms: number }>(`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS "ms"`)).rows[0]!.ms;
    } finally {
      await client.end();
    }
  }

  const start = (env: Record<string, string>) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-fencing-'));
    dirs.push(dataDir);
    return spawnServer({
      DATABASE_URL: tdb.target.url,
      AITBC_DATA_DIR: dataDir,
      AITBC_ADMIN_API_KEYS: admin,
      LOG_LEVEL: 'warn',
      AITBC_SWEEP_INTERVAL_MS: '100',
      AITBC_RATE_LIMIT: 'off',
      ...env,
    });
  };

  beforeAll(async () => {
    tdb = await createTestDatabase('postgresql');
    await migrateDatabase(tdb.target);
    [fast, exact] = await Promise.all([start({ AITBC_TEST_CLOCK_OFFSET_MS: String(SKEW_MS) }), start({ AITBC_TEST_CLOCK_OFFSET_MS: '0' })]);
    const key = (await restClient(exact.url, admin)('POST', '/api/v1/keys', { owner_id: 'fencing' })).body.key as string;
    onFast = restClient(fast.url, key);
    onExact = restClient(exact.url, key);
  }, 60_000);
  afterAll(async () => {
    await fast?.stop();
    await exact?.stop();
    await tdb?.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  let agents = 0;
  /** One subtask, of an agent of its own, submitted and claimed through `on`: its lease, and the database's time at the claim. */
  async function claimThrough(on: ReturnType<typeof restClient>) {
    const agent = (await onExact('POST', '/api/v1/agents', { name: `fenced-${++agents}` })).body.id as string;
    const network = (await onExact('POST', '/api/v1/agents/networks', { name: `fencing-${agents}`, agents: [agent], lease_seconds: LEASE }))
      .body.id as string;
    await onExact('POST', `/api/v1/agents/networks/${network}/execute`, { task: { subtasks: [1] } });
    const at = await databaseNow();
    const claimed = await on('POST', `/api/v1/agents/${agent}/claims`, { max: 1 });
    expect(claimed.status).toBe(200);
    const subtask = claimed.body.subtasks[0] as { subtask_id: string; lease_id: string; lease_expires_at: string };
    expect(subtask).toBeDefined();
    return { ...subtask, agent, at };
  }

  it('the fast instance knows it is fast', () => {
    expect(fast.output()).toMatch(/this machine's clock is 5\.0 s ahead of the database's/);
  });

  it('a lease taken through the fast instance ends lease_seconds after the database’s now, not 5 s later', async () => {
    const lease = await claimThrough(onFast);
    expect(Math.abs(Date.parse(lease.lease_expires_at) - (lease.at + LEASE * 1000))).toBeLessThan(1000);
    await onFast('POST', `/api/v1/subtasks/${lease.subtask_id}/result`, { lease_id: lease.lease_id, result: 1 });
  });

  it('a lease taken through the exact instance is extended and its result taken through the fast one, 1 s in (not refused early)', async () => {
    const lease = await claimThrough(onExact);
    await sleep(1000);
    const beat = await onFast('POST', `/api/v1/subtasks/${lease.subtask_id}/heartbeat`, { lease_id: lease.lease_id });
    expect(beat.status, JSON.stringify(beat.body)).toBe(200);
    await sleep(500);
    const posted = await onFast('POST', `/api/v1/subtasks/${lease.subtask_id}/result`, { lease_id: lease.lease_id, result: 1 });
    expect(posted.status, JSON.stringify(posted.body)).toBe(200);
  });

  it('a lease the fast instance stamped and nobody extends is handed on lease_seconds after its claim, not 5 s late', async () => {
    const lease = await claimThrough(onFast);
    const released = await eventually(async () => {
      const again = await onExact('POST', `/api/v1/agents/${lease.agent}/claims`, { max: 1 });
      return again.body.subtasks.length > 0 ? { at: await databaseNow(), subtask: again.body.subtasks[0] } : undefined;
    }, 15_000);
    expect(released.subtask.subtask_id).toBe(lease.subtask_id);
    // Handed on after the lease ran out by the database's clock: not before it, and not 5 s after.
    expect(released.at - lease.at).toBeGreaterThanOrEqual(LEASE * 1000 - 250);
    expect(released.at - lease.at).toBeLessThan(LEASE * 1000 + 2000);
    // The first holder's late result is refused: the lease is the second claim's now.
    const late = await onFast('POST', `/api/v1/subtasks/${lease.subtask_id}/result`, { lease_id: lease.lease_id, result: 1 });
    expect(late.status).toBe(409);
    await onExact('POST', `/api/v1/subtasks/${released.subtask.subtask_id}/result`, { lease_id: released.subtask.lease_id, result: 1 });
  });
});

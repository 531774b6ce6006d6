// One clock for fencing: on PostgreSQL every instance stamps and judges
// heartbeats, joins, deadlines and sweeps by the database's clock, measured
// with the round trip halved (clock.ts). A machine whose clock is 5 s off is
// played by a server process with AITBC_TEST_CLOCK_OFFSET_MS (honoured under
// a test runner only: its whole `Date` reads 5 s ahead). The work engine's
// own leases are clock-fencing.test.ts's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseClock, readPostgresTime } from '../src/clock.ts';
import { Database } from '../src/db/database.ts';
import { migrateDatabase } from '../src/db/migrate.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.ts';
import { restClient } from './support/http.ts';
import { type ListeningServer, spawnServer } from './support/server-process.ts';
import { eventually, sleep } from './support/waiting.ts';

const SKEW_MS = 5000;

describe.skipIf(!databaseKinds.includes('postgresql'))('the database’s clock', () => {
  let tdb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    tdb = await createTestDatabase('postgresql');
    await migrateDatabase(tdb.target);
    db = await Database.connect(tdb.target);
  });
  afterAll(async () => {
    await db?.close();
    await tdb?.drop();
  });

  /** The database's clock now, and how uncertain that reading is (half its round trip). */
  async function databaseNow(): Promise<{ at: number; within: number }> {
    const t0 = performance.now();
    const at = await readPostgresTime(db)();
    return { at, within: (performance.now() - t0) / 2 };
  }

  it('corrects a machine clock 5 s fast by the offset it measures, within half a round trip', async () => {
    const clock = await databaseClock(readPostgresTime(db), 60_000, () => Date.now() + SKEW_MS);
    try {
      expect(clock.offsetMs).toBeGreaterThan(-SKEW_MS - 100);
      expect(clock.offsetMs).toBeLessThan(-SKEW_MS + 100);
      expect(clock.errorBoundMs).toBeGreaterThanOrEqual(0);
      expect(clock.errorBoundMs).toBeLessThan(100);
      for (let i = 0; i < 5; i++) {
        const before = clock.now().getTime();
        const database = await databaseNow();
        const after = clock.now().getTime();
        // The database's reading falls between ours, give or take both readings' bounds (and a little scheduling).
        expect(database.at).toBeGreaterThanOrEqual(before - clock.errorBoundMs - database.within - 25);
        expect(database.at).toBeLessThanOrEqual(after + clock.errorBoundMs + database.within + 25);
      }
    } finally {
      clock.close();
    }
  });

  describe('a server process on a machine 5 s fast', () => {
    let server: ListeningServer & { pid: number };
    let dataDir: string;
    const admin = `clock-admin-${Date.now()}-0123456789`;

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'aitbc-clock-'));
      server = await spawnServer({
        DATABASE_URL: tdb.target.url,
        AITBC_DATA_DIR: dataDir,
        AITBC_ADMIN_API_KEYS: admin,
        LOG_LEVEL: 'warn',
        AITBC_SWEEP_INTERVAL_MS: '100',
        AITBC_HEARTBEAT_FLUSH_MS: '100',
        AITBC_TEST_CLOCK_OFFSET_MS: String(SKEW_MS),
      });
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    /** The database's clock (ms since the epoch), read on a connection of the test's. */
    async function databaseMs(): Promise<number> {
      const client = new pg.Client({ connectionString: tdb.target.url });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return (await client.query<{ ms: number }>(`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS "ms"`)).rows[0]!.ms;
      } finally {
        await client.end();
      }
    }

    it('is 5 s fast, and says it uses the database’s clock instead', () => {
      const warning = server
        .output()
        .split('\n')
        .find((l) => l.includes("this machine's clock is"));
      expect(warning).toMatch(/this machine's clock is 5\.0 s ahead of the database's; leases and deadlines use the database's/);
      // Its log lines carry its own (wrong) time.
      expect(JSON.parse(warning!).time - Date.now()).toBeGreaterThan(SKEW_MS - 2000);
    });

    it('stamps joins and heartbeats with the database’s time, and its sweeper judges silence by it', async () => {
      const key = (await restClient(server.url, admin)('POST', '/api/v1/keys', { owner_id: 'tess' })).body.key as string;
      const call = restClient(server.url, key);
      const member = (
        await call('POST', '/swarm/join', { role: 'monitor', capability: 'clock', suspect_after_seconds: 2, fail_after_seconds: 4 })
      ).body;
      const beat = (await call('POST', `/swarm/members/${member.member_id}/heartbeat`, {})).body;
      const now = await databaseMs();
      expect(Math.abs(Date.parse(member.joined_at) - now)).toBeLessThan(1500);
      expect(Math.abs(Date.parse(beat.last_heartbeat_at) - now)).toBeLessThan(1500);
      expect(Date.parse(beat.suspect_at) - Date.parse(beat.last_heartbeat_at)).toBe(2000);
      // On its own clock the member would be 3 s past its threshold already; by the database's it has 2 s left.
      await sleep(1000);
      const status = async () => (await call('GET', `/swarm/${member.swarm_id}/members`)).body.members[0].status as string;
      expect(await status()).toBe('active');
      const silentSince = Date.parse(beat.last_heartbeat_at);
      await eventually(async () => (await status()) === 'suspect', 10_000);
      expect((await databaseMs()) - silentSince).toBeGreaterThanOrEqual(2000);
    });
  });
});

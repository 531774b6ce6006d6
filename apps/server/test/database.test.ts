import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { databaseKinds, createTestDatabase, type TestDatabase } from './support/databases.ts';
import { migrateDatabase } from '../src/db/migrate.ts';
import { Database } from '../src/db/database.ts';
import { sql } from '../src/db/sql.ts';

/**
 * The data-loss hazard of SQLite with Prisma's better-sqlite3 adapter: a write
 * that runs while another request's transaction is open lands inside that
 * transaction and vanishes when it rolls back. Every unit of work goes
 * through Database, which must make that impossible.
 */
describe.each(databaseKinds)('database units of work on %s', (kind) => {
  let tdb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    tdb = await createTestDatabase(kind);
    await migrateDatabase(tdb.target);
    db = await Database.connect(tdb.target);
  });
  afterAll(async () => {
    await db?.close();
    await tdb?.drop();
  });

  it("never loses an acknowledged write to another request's rolled-back transaction", async () => {
    const WRITERS = 8;
    const WRITES_EACH = 50;
    const acknowledged: string[] = [];

    // Requests that write, yield to the event loop mid-transaction, then fail.
    const doomed = Array.from({ length: 4 }, async (_, d) => {
      for (let i = 0; i < 15; i++) {
        const name = `doomed-${d}-${i}`;
        await db
          .transaction(async (tx) => {
            await tx.agent.create({ data: { ownerId: 'hazard', name, capabilities: [] } });
            await sleep(2);
            await tx.agent.update({ where: { ownerId_name: { ownerId: 'hazard', name } }, data: { status: 'busy' } });
            throw new Error('roll back');
          })
          .catch((e: Error) => expect(e.message).toBe('roll back'));
      }
    });
    // Meanwhile other requests write: mostly plain single statements (where
    // the hazard bites), every fifth in a transaction of its own, and read.
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; i < WRITES_EACH; i++) {
        const create = { data: { ownerId: 'hazard', name: `kept-${w}-${i}`, capabilities: [] } };
        const agent = await (i % 5 ? db.run((q) => q.agent.create(create)) : db.transaction((tx) => tx.agent.create(create)));
        acknowledged.push(agent.name);
        if (i % 10 === 0)
          expect(await db.run((q) => q.agent.count({ where: { ownerId: 'hazard', name: { startsWith: 'doomed-' } } }))).toBe(0);
        await new Promise((r) => setImmediate(r));
      }
    });
    await Promise.all([...doomed, ...writers]);

    const stored = await db.run((q) => q.agent.findMany({ where: { ownerId: 'hazard' }, select: { name: true } }));
    const names = new Set(stored.map((a) => a.name));
    expect(acknowledged).toHaveLength(WRITERS * WRITES_EACH);
    const lost = acknowledged.filter((name) => !names.has(name));
    expect(lost, `${lost.length} acknowledged writes are gone`).toEqual([]);
    expect([...names].filter((n) => n.startsWith('doomed-'))).toEqual([]);
  });

  if (kind === 'sqlite') {
    it('runs SQLite in WAL mode', async () => {
      const [mode] = await db.run((q) => q.$queryRawUnsafe<{ journal_mode: string }[]>('PRAGMA journal_mode'));
      expect(mode?.journal_mode).toBe('wal');
    });
  }

  it('rolls back every write of a failed unit of work', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.agent.create({ data: { ownerId: 'atomic', name: 'one', capabilities: [] } });
        await tx.agent.create({ data: { ownerId: 'atomic', name: 'one', capabilities: [] } }); // unique clash
      }),
    ).rejects.toThrow();
    expect(await db.run((q) => q.agent.count({ where: { ownerId: 'atomic' } }))).toBe(0);
  });

  it('commits raw statements and Prisma calls in one transaction, or rolls both back', async () => {
    const insert = (name: string, now: Date) =>
      sql`INSERT INTO "agents" ("id", "owner_id", "name", "capabilities", "status", "created_at", "updated_at") VALUES (${name}, 'mixed', ${name}, '[]', 'online', ${now}, ${now})`;
    const committed: string[] = [];
    await db.transaction(async (tx) => {
      await tx.sql.run(insert('raw-1', new Date()));
      await tx.agent.create({ data: { ownerId: 'mixed', name: 'prisma-1', capabilities: [] } });
      // Prisma reads what raw SQL wrote in the same transaction, and the other way round.
      expect(await tx.agent.count({ where: { ownerId: 'mixed' } })).toBe(2);
      expect(await tx.sql.one(sql`SELECT count(*) AS n FROM "agents" WHERE "owner_id" = 'mixed'`)).toEqual({ n: 2 });
      tx.afterCommit(() => committed.push('first'));
    });
    expect(committed).toEqual(['first']);
    await expect(
      db.transaction(async (tx) => {
        await tx.agent.create({ data: { ownerId: 'mixed', name: 'prisma-2', capabilities: [] } });
        await tx.sql.run(insert('raw-2', new Date()));
        tx.afterCommit(() => committed.push('second'));
        throw new Error('roll back both');
      }),
    ).rejects.toThrow('roll back both');
    expect(committed).toEqual(['first']);
    const names = await db.run((q) => q.agent.findMany({ where: { ownerId: 'mixed' }, orderBy: { name: 'asc' }, select: { name: true } }));
    expect(names.map((a) => a.name)).toEqual(['prisma-1', 'raw-1']);
    // Rows written raw read back through Prisma exactly as Prisma's own (dates, JSON).
    const rawRow = await db.run((q) => q.agent.findFirst({ where: { ownerId: 'mixed', name: 'raw-1' } }));
    expect(rawRow?.createdAt).toBeInstanceOf(Date);
    expect(rawRow?.capabilities).toEqual([]);
  });

  // SQLite runs one statement at a time: it cannot deadlock.
  it.skipIf(kind !== 'postgresql')('retries a statement committed on its own that lost a deadlock, and keeps it once', async () => {
    const { default: pg } = await import('pg');
    await db.run((_, q) => q.run(sql`CREATE TABLE IF NOT EXISTS "deadlock_probe" ("id" INT PRIMARY KEY, "v" INT NOT NULL)`));
    await db.run((_, q) => q.run(sql`INSERT INTO "deadlock_probe" VALUES (1, 0), (2, 0) ON CONFLICT ("id") DO UPDATE SET "v" = 0`));
    // Another session holds row 1, and will ask for row 2 once the statement holds it and waits for row 1: a cycle.
    const other = new pg.Client({ connectionString: tdb.target.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('UPDATE "deadlock_probe" SET "v" = "v" WHERE "id" = 1');
      let attempts = 0;
      const statement = db.statement(async (q) => {
        attempts++;
        return q.run(sql`
          WITH "held" AS (SELECT "id" FROM "deadlock_probe" WHERE "id" IN (1, 2) ORDER BY "id" DESC FOR UPDATE)
          UPDATE "deadlock_probe" SET "v" = "v" + 1 WHERE "id" IN (SELECT "id" FROM "held")`);
      });
      await sleep(200);
      const closing = other.query('UPDATE "deadlock_probe" SET "v" = "v" WHERE "id" = 2').then(() => other.query('COMMIT'));
      expect(await statement).toBe(2);
      await closing;
      expect(attempts).toBe(2);
      const rows = await db.run((_, q) => q.all<{ id: number; v: number }>(sql`SELECT "id", "v" FROM "deadlock_probe" ORDER BY "id"`));
      expect(rows.map((r) => Number(r.v))).toEqual([1, 1]);
    } finally {
      await other.end();
    }
  });

  it('refuses a nested unit of work instead of deadlocking', async () => {
    await expect(db.transaction(() => db.run((q) => q.agent.count()))).rejects.toThrow(/nested database unit of work/);
    // and the gate is still open afterwards
    expect(await db.run((q) => q.agent.count({ where: { ownerId: 'nobody' } }))).toBe(0);
  });

  // On SQLite every unit is synchronous SQL and each one's end starts the next: a queue of them must still let the
  // event loop turn (other requests' I/O, timers) every few milliseconds, not only once the queue is empty.
  it('lets the event loop turn while units of work queue up', async () => {
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const started = performance.now();
    let timerLate = Number.NaN;
    setTimeout(() => (timerLate = performance.now() - started), 0);
    // 200 units of 1 ms each, queued at once: 200 ms of work, half of them transactions that may commit together.
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        i % 2
          ? db.run(async () => busy(1))
          : db.transaction(async (tx) => {
              busy(1);
              return tx.sql.all(sql`SELECT 1 AS "one"`);
            }),
      ),
    );
    expect(performance.now() - started).toBeGreaterThan(150);
    expect(timerLate).toBeLessThan(50);
  });
});

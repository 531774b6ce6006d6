import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { databaseKinds, createTestDatabase, type TestDatabase } from './support/databases.ts';
import { migrateDatabase } from '../src/db/migrate.ts';
import { Database } from '../src/db/database.ts';

/**
 * The data-loss hazard from shared/notes/prisma-offline.md: on SQLite a write
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

  it('refuses a nested unit of work instead of deadlocking', async () => {
    await expect(db.transaction(() => db.run((q) => q.agent.count()))).rejects.toThrow(/nested database unit of work/);
    // and the gate is still open afterwards
    expect(await db.run((q) => q.agent.count({ where: { ownerId: 'nobody' } }))).toBe(0);
  });
});

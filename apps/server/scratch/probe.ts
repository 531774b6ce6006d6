import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrateDatabase } from '../src/db/migrate.ts';
import { connectPrisma } from '../src/db/client.ts';
import { createScratchDatabase } from '../src/db/scratch-database.ts';
import BetterSqlite3 from 'better-sqlite3';

async function time(label: string, n: number, fn: (i: number) => Promise<void>) {
  for (let i = 0; i < 200; i++) await fn(i);
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  const us = ((performance.now() - t) * 1000) / n;
  console.log(label.padEnd(60), us.toFixed(1), 'µs/op');
}

for (const kind of ['sqlite', 'postgresql'] as const) {
  let target: any;
  let drop = async () => {};
  if (kind === 'sqlite') {
    const file = join(mkdtempSync(join(tmpdir(), 'probe-')), 'p.db');
    target = { provider: 'sqlite', file, url: `file:${file}` };
  } else {
    const s = await createScratchDatabase('postgresql://postgres@127.0.0.1:5432/test', 'probe');
    target = { provider: 'postgresql', url: s.url };
    drop = s.drop;
  }
  await migrateDatabase(target);
  const prisma = await connectPrisma(target);
  await prisma.agent.create({ data: { id: 'a1', ownerId: 'o', name: 'a1', capabilities: [] } });
  console.log('---', kind);
  await time('prisma updateMany (no tx)', 2000, async () => {
    await prisma.agent.updateMany({ where: { id: 'a1' }, data: { lastSeen: new Date() } });
  });
  await time('prisma $executeRawUnsafe (no tx)', 2000, async () => {
    await prisma.$executeRawUnsafe(
      'UPDATE agents SET last_seen = $1 WHERE id = $2'.replace(/\$\d/g, kind === 'sqlite' ? '?' : (m) => m),
      new Date(),
      'a1',
    );
  });
  await time('prisma $transaction with 4 updateMany', 1000, async () => {
    await prisma.$transaction(async (tx) => {
      for (let k = 0; k < 4; k++) await tx.agent.updateMany({ where: { id: 'a1' }, data: { lastSeen: new Date() } });
    });
  });
  await time('prisma $transaction with 4 $executeRawUnsafe', 1000, async () => {
    await prisma.$transaction(async (tx) => {
      for (let k = 0; k < 4; k++)
        await tx.$executeRawUnsafe(
          kind === 'sqlite' ? 'UPDATE agents SET last_seen = ? WHERE id = ?' : 'UPDATE agents SET last_seen = $1 WHERE id = $2',
          new Date(),
          'a1',
        );
    });
  });
  if (kind === 'sqlite') {
    const db = new BetterSqlite3(target.file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const st = db.prepare('UPDATE agents SET last_seen = ? WHERE id = ?');
    const begin = db.prepare('BEGIN IMMEDIATE'),
      commit = db.prepare('COMMIT');
    await time('better-sqlite3 tx with 4 prepared updates', 5000, async () => {
      begin.run();
      for (let k = 0; k < 4; k++) st.run(new Date().toISOString(), 'a1');
      commit.run();
    });
    db.close();
  } else {
    const pool = new pg.Pool({ connectionString: target.url, max: 4 });
    await time('pg tx with 4 updates (named stmt)', 1000, async () => {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        for (let k = 0; k < 4; k++)
          await c.query({ name: 'u', text: 'UPDATE agents SET last_seen = $1 WHERE id = $2', values: [new Date(), 'a1'] });
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    });
    await time('pg 1 update autocommit', 2000, async () => {
      await pool.query({ name: 'u', text: 'UPDATE agents SET last_seen = $1 WHERE id = $2', values: [new Date(), 'a1'] });
    });
    await pool.end();
  }
  await prisma.$disconnect();
  await drop();
}

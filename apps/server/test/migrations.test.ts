import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient as SqliteClient } from '../src/db/generated/sqlite/client.ts';
import { PrismaClient as PostgresClient } from '../src/db/generated/postgresql/client.ts';
import { diffMigrationsToSchema, isEmptyMigration, migrateDatabase, migrationsDir, prismaDir } from '../src/db/migrate.ts';
import type { DatabaseTarget } from '../src/db/target.ts';
import { openKey } from '../src/swarms/membership.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.ts';

const tables = [
  '_prisma_migrations',
  'agent_network_executions',
  'agent_networks',
  'agents',
  'api_keys',
  'audit_events',
  'dead_letters',
  'execution_progress',
  'idempotency_keys',
  'network_agent_stats',
  'network_minutes',
  'open_work',
  'subtask_attempts',
  'subtasks',
  'swarm_coordination',
  'swarm_members',
  'swarm_votes',
  'swarms',
  'validation_records',
];

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: unknown;
  rolled_back_at: unknown;
  applied_steps_count: unknown;
}

/** Runs one query with the raw driver, independent of the code under test. */
async function query<T>(target: DatabaseTarget, sql: string): Promise<T[]> {
  if (target.provider === 'sqlite') {
    const db = new Sqlite(target.file, { readonly: true });
    try {
      return db.prepare(sql).all() as T[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Runs SQL (one statement or a script) with the raw driver. */
async function exec(target: DatabaseTarget, sql: string): Promise<void> {
  if (target.provider === 'sqlite') {
    const db = new Sqlite(target.file);
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function tableNames(target: DatabaseTarget): Promise<string[]> {
  const sql =
    target.provider === 'sqlite'
      ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
      : "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'";
  return (await query<{ name: string }>(target, sql)).map((r) => r.name).sort();
}

/** Everything a re-apply could change: the schema and the migration rows. */
async function snapshot(target: DatabaseTarget): Promise<unknown> {
  const schemaSql =
    target.provider === 'sqlite'
      ? 'SELECT type, name, sql FROM sqlite_master ORDER BY name'
      : `SELECT table_name, column_name, data_type, is_nullable, column_default
           FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, column_name`;
  return {
    schema: await query(target, schemaSql),
    migrations: await query(target, 'SELECT * FROM _prisma_migrations ORDER BY migration_name'),
  };
}

function migrationDirs(provider: DatabaseTarget['provider']): string[] {
  return readdirSync(migrationsDir(provider), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

describe.each(databaseKinds)('migrations on %s', (kind) => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('has a lock file and an initial migration', () => {
    const lock = readFileSync(join(migrationsDir(kind), 'migration_lock.toml'), 'utf8');
    expect(lock).toContain(`provider = "${kind}"`);
    expect(migrationDirs(kind)[0]).toMatch(/^\d{14}_init$/);
  });

  it('applies every migration to an empty database', async () => {
    const dirs = migrationDirs(kind);
    const { applied } = await migrateDatabase(db.target);
    expect(applied).toEqual(dirs);
    expect(await tableNames(db.target)).toEqual(tables);

    const rows = await query<MigrationRow>(db.target, 'SELECT * FROM _prisma_migrations ORDER BY migration_name');
    expect(rows.map((r) => r.migration_name)).toEqual(dirs);
    for (const row of rows) {
      const sql = readFileSync(join(migrationsDir(kind), row.migration_name, 'migration.sql'));
      expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
      expect(row.finished_at).not.toBeNull();
      expect(row.rolled_back_at).toBeNull();
      expect(Number(row.applied_steps_count)).toBe(1);
    }
  });

  it('applies nothing and changes nothing the second time', async () => {
    const before = await snapshot(db.target);
    expect(await migrateDatabase(db.target)).toEqual({ applied: [] });
    expect(await snapshot(db.target)).toEqual(before);
  });

  it('gives a database the generated client can write and read', async () => {
    const prisma =
      db.target.provider === 'sqlite'
        ? new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: db.target.file }) })
        : new PostgresClient({ adapter: new PrismaPg({ connectionString: db.target.url }) });
    try {
      // Both clients come from one schema, so their model APIs are the same.
      const client = prisma as SqliteClient;
      const created = await client.agent.create({
        data: { ownerId: 'owner-1', name: 'gpu-worker', capabilities: ['gpu', 'llm'] },
      });
      const found = await client.agent.findUniqueOrThrow({ where: { id: created.id } });
      expect(found).toMatchObject({ name: 'gpu-worker', capabilities: ['gpu', 'llm'], status: 'offline' });
      expect(found.createdAt).toBeInstanceOf(Date);
    } finally {
      await prisma.$disconnect();
    }
  });

  it('has checked-in migrations that match the schema (no pending diff)', async () => {
    const sql = await diffMigrationsToSchema(kind, db.target);
    expect(isEmptyMigration(sql), `run \`pnpm db:diff --name <change>\`:\n${sql}`).toBe(true);
  });
});

describe.each(databaseKinds)('merging the per-region swarms on %s', (kind) => {
  it('moves members, tasks and work into one swarm per owner and capability, with the counters summed', async () => {
    const db = await createTestDatabase(kind);
    try {
      await migrateDatabase(db.target);
      // The shape before the merge: swarms had a region, and it was part of the join key.
      await exec(db.target, 'ALTER TABLE "swarms" ADD COLUMN "region" TEXT');
      const at = (day: number) => `'2026-11-0${day} 00:00:00'`;
      await exec(
        db.target,
        `INSERT INTO "swarms" ("id", "owner_id", "capability", "region", "status", "open_key", "active_members", "live_tasks",
           "tasks_completed", "task_seconds", "created_at", "updated_at") VALUES
         ('swarm_eu', 'alice', 'gpu', 'eu', 'open', '["alice","gpu","eu"]', 1, 0, 2, 1.5, ${at(1)}, ${at(1)}),
         ('swarm_any', 'alice', 'gpu', NULL, 'open', '["alice","gpu",null]', 1, 1, 1, 0.5, ${at(2)}, ${at(2)}),
         ('swarm_bob', 'bob', 'gpu', 'eu', 'open', '["bob","gpu","eu"]', 1, 0, 0, 0, ${at(1)}, ${at(1)});
       INSERT INTO "swarm_members" ("id", "swarm_id", "member_id", "role", "capability", "region", "priority", "status", "owner_id",
           "reputation", "created_at", "updated_at") VALUES
         ('m1', 'swarm_eu', 'member_eu', 'monitor', 'gpu', 'eu', 'normal', 'active', 'alice', 0.5, ${at(1)}, ${at(1)}),
         ('m2', 'swarm_any', 'member_any', 'monitor', 'gpu', NULL, 'normal', 'active', 'alice', 0.5, ${at(2)}, ${at(2)}),
         ('m3', 'swarm_bob', 'member_bob', 'monitor', 'gpu', 'eu', 'normal', 'active', 'bob', 0.5, ${at(1)}, ${at(1)});
       INSERT INTO "swarm_coordination" ("id", "task_id", "swarm_id", "owner_id", "strategy", "status", "created_at", "updated_at")
         VALUES ('c1', 'task-1', 'swarm_any', 'alice', 'distributed', 'queued', ${at(2)}, ${at(2)});
       INSERT INTO "subtasks" ("id", "owner_id", "coordination_id", "swarm_id", "seq", "payload", "status", "assignee_id", "created_at", "updated_at")
         VALUES ('s1', 'alice', 'c1', 'swarm_any', 0, '1', 'assigned', 'member_any', ${at(2)}, ${at(2)});`,
      );
      const migration = readFileSync(join(migrationsDir(kind), '20261201175622_one_swarm_per_capability', 'migration.sql'), 'utf8');
      await exec(db.target, migration);

      const swarms = await query<Record<string, unknown>>(db.target, 'SELECT * FROM "swarms" ORDER BY "id"');
      expect(swarms.map((s) => [s.id, s.open_key])).toEqual([
        ['swarm_bob', openKey('bob', 'gpu')],
        ['swarm_eu', openKey('alice', 'gpu')],
      ]);
      expect(swarms[0]).not.toHaveProperty('region');
      const merged = swarms[1]!;
      expect([merged.active_members, merged.live_tasks, merged.tasks_completed, Number(merged.task_seconds)].map(Number)).toEqual([
        2, 1, 3, 2,
      ]);
      const placed = async (table: string) =>
        (await query<{ swarm_id: string }>(db.target, `SELECT DISTINCT "swarm_id" FROM "${table}" WHERE "owner_id" = 'alice'`)).map(
          (r) => r.swarm_id,
        );
      for (const table of ['swarm_members', 'swarm_coordination', 'subtasks']) expect(await placed(table), table).toEqual(['swarm_eu']);
      const open = await query<{ key: string; assigned: unknown }>(
        db.target,
        `SELECT "key", SUM("assigned") AS "assigned" FROM "open_work" WHERE "scope" = 'swarm' GROUP BY "key"`,
      );
      expect(open.map((r) => [r.key, Number(r.assigned)])).toEqual([['swarm_eu', 1]]);
    } finally {
      await db.drop();
    }
  });
});

describe('schema variants', () => {
  it('has a checked-in PostgreSQL schema in sync with prisma/schema.prisma', () => {
    // Throws, with the tool's message, when generate.mjs --check exits 1.
    execFileSync(process.execPath, [join(prismaDir, 'tools', 'generate.mjs'), '--check'], { encoding: 'utf8' });
  });
});

describe('migrating a SQLite file another process has open', () => {
  it('starts without the engine (and its exclusive lock) when nothing is pending', async () => {
    const db = await createTestDatabase('sqlite');
    try {
      await migrateDatabase(db.target);
      const other = new Sqlite((db.target as { file: string }).file);
      other.exec('BEGIN IMMEDIATE'); // another writer holds the write lock
      try {
        await expect(migrateDatabase(db.target)).resolves.toEqual({ applied: [] });
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
    } finally {
      await db.drop();
    }
  });

  it('says which file is busy when a migration is pending and cannot run', async () => {
    const db = await createTestDatabase('sqlite');
    const file = (db.target as { file: string }).file;
    const other = new Sqlite(file);
    other.exec('BEGIN IMMEDIATE');
    try {
      await expect(migrateDatabase(db.target)).rejects.toThrow(`cannot migrate ${file}: another process has it open`);
    } finally {
      other.exec('ROLLBACK');
      other.close();
      await db.drop();
    }
  }, 20_000);
});

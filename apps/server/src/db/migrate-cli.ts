// pnpm db:migrate                 apply pending migrations to DATABASE_URL (default: SQLite under AITBC_DATA_DIR)
// pnpm db:migrate status          list applied / pending migrations
// pnpm db:diff --name NAME        write the next migration for both providers (schema.prisma → migrations)
//
// Relative paths (AITBC_DATA_DIR, DATABASE_URL=file:...) are taken from where
// pnpm was invoked (INIT_CWD), not from apps/server where pnpm runs the script.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  diffMigrationsToSchema,
  isEmptyMigration,
  migrateDatabase,
  migrationLock,
  migrationsDir,
  noFilters,
  prismaDir,
  readMigrations,
  readSchemaFiles,
  type Provider,
} from './migrate.ts';
import { withSchemaEngine } from './schema-engine.ts';
import { databaseTarget, type DatabaseTarget } from './target.ts';
import { loadConfig } from '../config.ts';

const providers: Provider[] = ['sqlite', 'postgresql'];
const repoRoot = resolve(prismaDir, '..');

/** The database the server would use, read from the environment the same way. */
function target(): DatabaseTarget {
  const config = loadConfig();
  return databaseTarget(config.databaseUrl, config.dataDir);
}

function describe(t: DatabaseTarget): string {
  if (t.provider === 'sqlite') return `SQLite ${t.file}`;
  const u = new URL(t.url);
  return `PostgreSQL ${u.host}${u.pathname}`;
}

async function migrate(): Promise<void> {
  const t = target();
  const { applied } = await migrateDatabase(t);
  if (applied.length === 0) console.log(`${describe(t)}: database is up to date`);
  else for (const name of applied) console.log(`${describe(t)}: applied ${name}`);
}

async function status(): Promise<number> {
  const t = target();
  const migrationsList = await readMigrations(t.provider);
  const all = migrationsList.migrationDirectories.map((d) => d.path);
  // Do not create a SQLite file just to look at it. Apart from that, a fresh
  // database has no _prisma_migrations table and the engine reports P1014.
  const fresh = t.provider === 'sqlite' && !existsSync(t.file);
  const result = fresh
    ? null
    : await withSchemaEngine(t, await readSchemaFiles(t.provider), async (engine) => {
        try {
          return await engine.diagnoseMigrationHistory({ migrationsList, optInToShadowDatabase: false, filters: noFilters });
        } catch (err) {
          if (/P1014|_prisma_migrations/.test(String(err))) return null;
          throw err;
        }
      });
  console.log(`${describe(t)}: ${all.length} migration(s) in ${relative(repoRoot, migrationsList.baseDir)}`);
  const history = result?.history;
  const pending = result === null ? all : history?.diagnostic === 'databaseIsBehind' ? history.unappliedMigrationNames : [];
  for (const name of result?.failedMigrationNames ?? []) console.log(`  failed:   ${name}`);
  for (const name of result?.editedMigrationNames ?? []) console.log(`  edited after apply: ${name}`);
  for (const name of pending) console.log(`  pending:  ${name}`);
  if (history && history.diagnostic !== 'databaseIsBehind') {
    console.log(`  history diverges (${history.diagnostic}): ${JSON.stringify(history)}`);
  }
  const ok = pending.length === 0 && !history && !result?.failedMigrationNames.length && !result?.editedMigrationNames.length;
  if (ok) console.log('  database is up to date');
  return ok ? 0 : 1;
}

/**
 * The database the engine connects to while diffing. It is not changed: the
 * migrations are replayed into a throwaway shadow database (in memory for
 * SQLite, created next to this one and dropped WITH (FORCE) for PostgreSQL).
 */
function diffVia(provider: Provider): DatabaseTarget {
  if (provider === 'sqlite') return { provider, file: ':memory:', url: 'file::memory:' };
  return { provider, url: process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test' };
}

function timestamp(date = new Date()): string {
  return date.toISOString().replace(/\D/g, '').slice(0, 14); // YYYYMMDDHHMMSS, UTC, like Prisma
}

async function diff(name: string): Promise<void> {
  const slug = name
    .trim()
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!slug) throw new Error('diff: --name must contain letters or digits');
  const dirName = `${timestamp()}_${slug}`;
  // Compute both first so a failure on one provider writes nothing.
  const scripts = await Promise.all(providers.map((p) => diffMigrationsToSchema(p, diffVia(p))));
  for (const [i, provider] of providers.entries()) {
    const sql = scripts[i] ?? '';
    const base = migrationsDir(provider);
    if (isEmptyMigration(sql)) {
      console.log(`${provider}: no changes, skipped`);
      continue;
    }
    const dir = join(base, dirName);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'migration.sql'), sql);
    if (!existsSync(join(base, 'migration_lock.toml'))) await writeFile(join(base, 'migration_lock.toml'), migrationLock(provider));
    console.log(`${provider}: wrote ${relative(repoRoot, join(dir, 'migration.sql'))}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const command = positionals[0] ?? 'deploy';
  switch (values.help ? 'help' : command) {
    case 'deploy':
      await migrate();
      return 0;
    case 'status':
      return status();
    case 'diff':
      if (!values.name) throw new Error('diff: --name NAME is required');
      await diff(values.name);
      return 0;
    default:
      console.log('usage: db:migrate [deploy | status | diff --name NAME]');
      return command === 'help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);

// Test databases. Every server test runs on each available kind: SQLite
// always, PostgreSQL when the probe in global-setup.ts reached it (or CI=true,
// where an unreachable PostgreSQL fails the run instead).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { DatabaseTarget } from '../../src/db/target.ts';
import { createScratchDatabase } from '../../src/db/scratch-database.ts';

export type DatabaseKind = 'sqlite' | 'postgresql';

export interface TestDatabase {
  name: DatabaseKind;
  target: DatabaseTarget;
  /** Deletes the database (PostgreSQL: DROP ... WITH (FORCE), so open pools do not block it). */
  drop(): Promise<void>;
}

const postgresUrl = inject('postgresUrl'); // typed in global-setup.ts
if (postgresUrl === undefined) {
  throw new Error('test/support/global-setup.ts did not run: run the tests through apps/server/vitest.config.ts');
}

export const databaseKinds: DatabaseKind[] = postgresUrl ? ['sqlite', 'postgresql'] : ['sqlite'];

/** A fresh, empty database (not migrated) of the given kind. */
export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'aitbc-test-'));
    const file = join(dir, 'test.db');
    return {
      name: kind,
      target: { provider: 'sqlite', file, url: `file:${file}` },
      drop: () => rm(dir, { recursive: true, force: true }),
    };
  }
  if (!postgresUrl) throw new Error('PostgreSQL is not available for tests (see the line printed at start)');
  const scratch = await createScratchDatabase(postgresUrl, 'aitbc_t');
  return { name: kind, target: { provider: 'postgresql', url: scratch.url }, drop: scratch.drop };
}

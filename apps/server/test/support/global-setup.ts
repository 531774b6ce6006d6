// Probes PostgreSQL once per test run and tells the test files (inject) whether
// the PostgreSQL suites run. Unreachable PostgreSQL skips them with one line,
// except under CI=true, where it fails the run.
import pg from 'pg';
import type { TestProject } from 'vitest/node';

export const defaultTestDatabaseUrl = 'postgresql://postgres@127.0.0.1:5432/test';

declare module 'vitest' {
  export interface ProvidedContext {
    /** PostgreSQL server for tests (TEST_DATABASE_URL), or null when unavailable. */
    postgresUrl: string | null;
  }
}

async function probe(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return err instanceof Error ? err.message || String((err as { code?: string }).code) : String(err);
  } finally {
    await client.end().catch(() => {});
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const url = process.env.TEST_DATABASE_URL || defaultTestDatabaseUrl;
  const problem = await probe(url);
  const where = new URL(url).host;
  if (problem && process.env.CI === 'true') {
    throw new Error(`PostgreSQL for tests is unreachable at ${where} (${problem}); CI=true requires it. Set TEST_DATABASE_URL.`);
  }
  // Projects share this process: say it once per run, not once per project.
  if (problem && !process.env.AITBC_TEST_PG_SKIP_SAID) {
    process.env.AITBC_TEST_PG_SKIP_SAID = '1';
    process.stderr.write(
      `[tests] PostgreSQL suites SKIPPED: cannot connect to ${where} (${problem}). Start PostgreSQL or set TEST_DATABASE_URL; CI=true makes this an error.\n`,
    );
  }
  project.provide('postgresUrl', problem ? null : url);
}

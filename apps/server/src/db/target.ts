import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

/** Which database the server talks to, decided once from DATABASE_URL. */
export type DatabaseTarget = { provider: 'sqlite'; file: string; url: string } | { provider: 'postgresql'; url: string };

/** The absolute path a `file:` URL names; a relative path is taken from `base`. */
export function sqliteFileOf(fileUrl: string, base = process.cwd()): string {
  return resolve(base, fileUrl.slice('file:'.length).replace(/^\/\//, ''));
}

/**
 * Unset DATABASE_URL means the embedded default: a SQLite file under the data
 * directory. A postgres:// or postgresql:// URL selects PostgreSQL, and
 * file:PATH selects another SQLite file.
 */
export function databaseTarget(databaseUrl: string | undefined, dataDir: string): DatabaseTarget {
  const url = databaseUrl?.trim();
  if (!url) {
    mkdirSync(dataDir, { recursive: true });
    const file = resolve(dataDir, 'aitbc.db');
    return { provider: 'sqlite', file, url: `file:${file}` };
  }
  if (/^postgres(ql)?:\/\//i.test(url)) return { provider: 'postgresql', url };
  if (url.startsWith('file:')) {
    const file = sqliteFileOf(url);
    return { provider: 'sqlite', file, url: `file:${file}` };
  }
  throw new Error(
    `DATABASE_URL must be a postgresql:// URL or a file: path (got "${url.split(':')[0]}:…"); leave it unset for the embedded SQLite default`,
  );
}

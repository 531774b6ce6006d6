import { JsonNull } from '@prisma/client/runtime/client';
import type { PrismaClient as SqliteClient } from './generated/sqlite/client.ts';
import type { DatabaseTarget } from './target.ts';

/**
 * Both generated clients expose the same model API (one source schema), so
 * the server is typed against the SQLite one and the PostgreSQL client is
 * used through that type. Only the client for the target's provider is
 * loaded: each carries its own query compiler.
 */
export type Prisma = SqliteClient;
export type PrismaTx = Omit<Prisma, '$connect' | '$disconnect' | '$on' | '$transaction' | '$extends'>;

export async function connectPrisma(target: DatabaseTarget): Promise<Prisma> {
  if (target.provider === 'sqlite') {
    const [{ PrismaClient }, { PrismaBetterSqlite3 }] = await Promise.all([
      import('./generated/sqlite/client.ts'),
      import('@prisma/adapter-better-sqlite3'),
    ]);
    const client = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: target.url, timeout: 5000 }) });
    // WAL lets readers run beside the writer; NORMAL sync is durable across a
    // process crash (the WAL is fsynced at checkpoints, not every commit).
    await client.$queryRawUnsafe('PRAGMA journal_mode = WAL');
    await client.$queryRawUnsafe('PRAGMA synchronous = NORMAL');
    await client.$queryRawUnsafe('PRAGMA foreign_keys = ON');
    return client;
  }
  const [{ PrismaClient }, { PrismaPg }] = await Promise.all([import('./generated/postgresql/client.ts'), import('@prisma/adapter-pg')]);
  const client = new PrismaClient({ adapter: new PrismaPg({ connectionString: target.url, max: 10 }) });
  await client.$connect();
  return client as unknown as Prisma;
}

/** A JSON value as Prisma takes it: a JSON `null` must be spelled JsonNull (a bare null means SQL NULL). */
export function jsonInput<T>(value: T): T | typeof JsonNull {
  return value === null ? JsonNull : value;
}

import type {
  IsolationLevel,
  SqlDriverAdapter,
  SqlDriverAdapterFactory,
  SqlQuery,
  SqlQueryable,
  Transaction,
} from '@prisma/driver-adapter-utils';
import { JsonNull } from '@prisma/client/runtime/client';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import type { PrismaClient as SqliteClient } from './generated/sqlite/client.ts';
import { PROBE_TIMEOUT_MS, type Probe } from './availability.ts';
import { BACKSTOP_PAGES, startCheckpointer } from './checkpointer.ts';
import { PostgresSql, SqliteSql, statementCounter } from './sql.ts';
import type { DatabaseTarget } from './target.ts';

/**
 * Both generated clients expose the same model API (one source schema), so
 * the server is typed against the SQLite one and the PostgreSQL client is
 * used through that type. Only the client for the target's provider is
 * loaded: each carries its own query compiler.
 */
export type Prisma = SqliteClient;
export type PrismaTx = Omit<Prisma, '$connect' | '$disconnect' | '$on' | '$transaction' | '$extends'>;

/**
 * The connections of one server: Prisma, and raw SQL on the same database
 * (SQLite: the very connection Prisma uses; PostgreSQL: the pool Prisma draws
 * from). A Prisma transaction started while `joinable()` names a transaction
 * of ours does not open one of its own: it joins ours at a savepoint, so a
 * unit of work can mix raw statements and Prisma calls and still commit or
 * roll back as one.
 */
export interface Connection {
  prisma: Prisma;
  /** SQLite: statements on the shared connection. */
  sqlite: SqliteSql | null;
  /** PostgreSQL: the shared pool. */
  pool: pg.Pool | null;
  /** Prisma's own queryable, run on a connection of ours (a PostgreSQL transaction's client). */
  queryableOn(client: SerialClient | null): SqlQueryable;
  /** PostgreSQL: what the database is now, on a connection of its own (db/availability.ts); null on SQLite. */
  probe: Probe | null;
  close(): Promise<void>;
}

/**
 * The last error each PostgreSQL connection reported. Every connection of a
 * pool gets an 'error' listener the moment it is made, for its whole life:
 * pg-pool listens only while a connection is idle and stops when it hands it
 * out, and an 'error' event nobody hears (PostgreSQL ending the connection
 * mid-transaction: a restart, a failover, pg_terminate_backend) would end
 * the process. The transaction that holds a connection reads its error here
 * and gives it back broken (release(error)), so the pool drops it.
 */
const connectionErrors = new WeakMap<pg.ClientBase, Error>();

/** The error `client` reported, if it did: it must not be reused. */
export const connectionError = (client: pg.ClientBase): Error | undefined => connectionErrors.get(client);

/** Listens on every connection `pool` makes (see connectionErrors); an idle one that fails goes to `onIdleError`. */
export function guardConnections(pool: pg.Pool, onIdleError: (error: Error) => void): void {
  pool.on('connect', (client) => {
    client.on('error', (error) => connectionErrors.set(client, error));
  });
  // pg-pool drops an idle connection that fails and opens another when next needed; unheard, this too would be fatal.
  pool.on('error', onIdleError);
}

/**
 * One connection's statements, one after another. A transaction's raw
 * statements and the Prisma calls joined to it share its connection, and a
 * unit of work may start several at once (Promise.all over `tx.sql`):
 * node-postgres queues a query sent while another runs, but that use is
 * deprecated (removed in pg 9). Here each waits for the one before.
 */
export class SerialClient {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly client: pg.PoolClient) {}

  query(config: pg.QueryConfig): Promise<pg.QueryResult> {
    const run = this.tail.then(() => this.client.query(config));
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** Pool connections: how long to wait for one, and TCP keepalive so a server gone silent is noticed. */
export const POOL_OPTIONS = {
  /** A connection not made (or not free) by then fails the unit of work: 503, not a request held indefinitely. */
  connectionTimeoutMillis: 5000,
  keepAlive: true,
  keepAliveInitialDelayMillis: 10_000,
} satisfies pg.PoolConfig;

/** The probe of db/availability.ts: a fresh connection, its own timeouts, and whether transactions are read-only. */
export function postgresProbe(url: string): Probe {
  return async () => {
    const client = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: PROBE_TIMEOUT_MS,
      query_timeout: PROBE_TIMEOUT_MS,
      application_name: 'aitbc-probe',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ ro: string }>(`SELECT current_setting('transaction_read_only') AS "ro"`);
      return rows[0]?.ro === 'on' ? 'read-only' : 'up';
    } finally {
      void client.end().catch(() => undefined);
    }
  };
}

const statement = (text: string): SqlQuery => ({ sql: text, args: [], argTypes: [] });

/** Prisma's statements count too (see statementCounter), but not its transaction control. */
const CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|--)/i;
function counted(on: SqlQueryable): Pick<SqlQueryable, 'queryRaw' | 'executeRaw'> {
  return {
    queryRaw: (query) => {
      if (!CONTROL.test(query.sql)) statementCounter.total++;
      return on.queryRaw(query);
    },
    executeRaw: (query) => {
      if (!CONTROL.test(query.sql)) statementCounter.total++;
      return on.executeRaw(query);
    },
  };
}

/** A Prisma transaction inside one of ours: BEGIN was a savepoint; COMMIT releases it, ROLLBACK returns to it. */
function joinedTransaction(host: SqlQueryable, savepoint: string): Transaction {
  const on = { provider: host.provider, adapterName: host.adapterName, ...counted(host) };
  return {
    provider: on.provider,
    adapterName: on.adapterName,
    options: { usePhantomQuery: false },
    queryRaw: (query) => on.queryRaw(query),
    executeRaw: async (query) => {
      // Prisma ends a transaction by sending COMMIT or ROLLBACK itself, then calling commit()/rollback().
      if (query.sql === 'COMMIT') return on.executeRaw(statement(`RELEASE SAVEPOINT ${savepoint}`));
      if (query.sql === 'ROLLBACK') {
        await on.executeRaw(statement(`ROLLBACK TO SAVEPOINT ${savepoint}`));
        return on.executeRaw(statement(`RELEASE SAVEPOINT ${savepoint}`));
      }
      return on.executeRaw(query);
    },
    commit: async () => {},
    rollback: async () => {},
    createSavepoint: async (name) => void (await on.executeRaw(statement(`SAVEPOINT ${name}`))),
    rollbackToSavepoint: async (name) => void (await on.executeRaw(statement(`ROLLBACK TO SAVEPOINT ${name}`))),
    releaseSavepoint: async (name) => void (await on.executeRaw(statement(`RELEASE SAVEPOINT ${name}`))),
  };
}

let savepoints = 0;

/** The driver adapter Prisma gets: the real one, except that a transaction started inside ours joins it. */
function joining(inner: SqlDriverAdapter, joinable: () => SqlQueryable | undefined): SqlDriverAdapter {
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    ...counted(inner),
    executeScript: (script) => inner.executeScript(script),
    dispose: () => inner.dispose(),
    ...(inner.getConnectionInfo ? { getConnectionInfo: () => inner.getConnectionInfo!() } : {}),
    async startTransaction(isolationLevel?: IsolationLevel) {
      const host = joinable();
      if (!host) return inner.startTransaction(isolationLevel);
      const savepoint = `prisma_joined_${++savepoints}`;
      await host.executeRaw(statement(`SAVEPOINT ${savepoint}`));
      return joinedTransaction(host, savepoint);
    },
  };
}

function factory(inner: SqlDriverAdapter, joinable: () => SqlQueryable | undefined): SqlDriverAdapterFactory {
  return { provider: inner.provider, adapterName: inner.adapterName, connect: async () => joining(inner, joinable) };
}

/**
 * SQLite's page cache per connection (the default is 2 MiB): the hot pages of the subtasks table and its indexes stay
 * in memory, not re-read per statement. 16 MiB, not 64: the cache fills with a large history (the bench's 100,000
 * recorded subtasks) and is resident memory; at 64 MiB a full `pnpm bench` peaked at 353 MiB, at 16 at 311, with
 * the work path's figures unchanged within the machine's noise (bench/README "Peak RSS").
 */
export const SQLITE_PAGE_CACHE_KIB = 16 * 1024;

export async function connect(
  target: DatabaseTarget,
  joinable: () => SqlQueryable | undefined,
  onIdleError: (error: Error) => void = () => undefined,
): Promise<Connection> {
  if (target.provider === 'sqlite') {
    const [{ PrismaClient }, { PrismaBetterSqlite3 }] = await Promise.all([
      import('./generated/sqlite/client.ts'),
      import('@prisma/adapter-better-sqlite3'),
    ]);
    const adapter = await new PrismaBetterSqlite3({ url: target.url, timeout: 5000 }).connect();
    // The adapter's own better-sqlite3 connection, so raw statements and Prisma's share one connection and one transaction.
    const connection = (adapter as unknown as { client?: unknown }).client;
    if (!(connection instanceof BetterSqlite3))
      throw new Error('@prisma/adapter-better-sqlite3 no longer exposes its connection as `client`');
    // WAL lets readers run beside the writer; NORMAL sync is durable across a
    // process crash (the WAL is fsynced at checkpoints, not every commit).
    connection.pragma('journal_mode = WAL');
    connection.pragma('synchronous = NORMAL');
    connection.pragma('foreign_keys = ON');
    connection.pragma(`cache_size = -${SQLITE_PAGE_CACHE_KIB}`);
    // Checkpoints run in their own thread (db/checkpointer.ts); this connection's own is only a backstop.
    connection.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    const checkpointer = startCheckpointer(target.file, 250, (message) => console.error(`aitbc-server: ${message}`));
    const client = new PrismaClient({ adapter: factory(adapter, joinable) });
    return {
      prisma: client,
      sqlite: new SqliteSql(connection),
      pool: null,
      queryableOn: () => adapter,
      probe: null,
      async close() {
        await checkpointer.close();
        await client.$disconnect();
      },
    };
  }
  const [{ PrismaClient }, { PrismaPg }] = await Promise.all([import('./generated/postgresql/client.ts'), import('@prisma/adapter-pg')]);
  const pool = new pg.Pool({ connectionString: target.url, max: 10, application_name: 'aitbc-server', ...POOL_OPTIONS });
  guardConnections(pool, onIdleError);
  const adapter = await new PrismaPg(pool).connect();
  const client = new PrismaClient({ adapter: factory(adapter, joinable) });
  await client.$connect();
  return {
    prisma: client as unknown as Prisma,
    sqlite: null,
    pool,
    // adapter-pg's queries run on `this.client.query`: the same methods, on our transaction's connection (in turn).
    queryableOn: (on) => (on ? (Object.create(adapter, { client: { value: on } }) as SqlQueryable) : adapter),
    probe: postgresProbe(target.url),
    async close() {
      await client.$disconnect();
      await pool.end();
    },
  };
}

/** Raw SQL on the pool, outside any transaction (each statement commits on its own). */
export const poolSql = (pool: pg.Pool) => new PostgresSql(pool);

/** A JSON value as Prisma takes it: a JSON `null` must be spelled JsonNull (a bare null means SQL NULL). */
export function jsonInput<T>(value: T): T | typeof JsonNull {
  return value === null ? JsonNull : value;
}

/** Prisma refused a write for a unique constraint (P2002). */
export const isUniqueViolation = (error: unknown): boolean => (error as { code?: string } | undefined)?.code === 'P2002';
/** Prisma found no record to update or delete (P2025). */
export const isMissingRecord = (error: unknown): boolean => (error as { code?: string } | undefined)?.code === 'P2025';

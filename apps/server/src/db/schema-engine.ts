// Prisma's schema engine (migrations, diffs) as WebAssembly, driven through
// Prisma's own driver adapters. The native engine binary cannot be downloaded
// on every machine; the wasm build needs nothing but the npm package.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type { SchemaEngine } from '@prisma/schema-engine-wasm';
import pg from 'pg';
import { createScratchDatabase } from './scratch-database.ts';
import type { DatabaseTarget } from './target.ts';
import { guardConnections } from './client.ts';

export type { SchemaEngine };

/** A Prisma schema file as the engine takes it. */
export interface SchemaFile {
  path: string;
  content: string;
}

type WasmBindings = typeof import('@prisma/schema-engine-wasm');

// The repo's lib ("ES2023", no DOM) has no WebAssembly typings; declare what we use.
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: Record<string, unknown> } }>;
  RuntimeError: ErrorConstructor;
};

let bindings: Promise<WasmBindings> | undefined;
/** Set when the engine panicked; the instance is unusable afterwards. */
let lastPanic: string | undefined;

/**
 * The package's entry imports the .wasm file as an ES module, which Node 20
 * cannot do, so instantiate it here and hand its exports to the JS glue.
 * Loaded once per process.
 */
export function loadSchemaEngine(): Promise<WasmBindings> {
  if (lastPanic) return Promise.reject(new Error(`the Prisma schema engine panicked earlier in this process (${lastPanic}); restart it`));
  bindings ??= (async () => {
    const require = createRequire(import.meta.url);
    const gluePath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const glue = (await import('@prisma/schema-engine-wasm/schema_engine_bg')) as WasmBindings & {
      __wbg_set_wasm(exports: object): void;
    };
    const bytes = await readFile(join(dirname(gluePath), 'schema_engine_bg.wasm'));
    const { instance } = await WebAssembly.instantiate(bytes, { './schema_engine_bg.js': glue });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    // The engine reports a Rust panic here, then traps ("unreachable").
    const g = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: { set_message(message: string): void } };
    g.PRISMA_WASM_PANIC_REGISTRY = { set_message: (message) => (lastPanic = message) };
    return glue;
  })();
  bindings.catch(() => (bindings = undefined));
  return bindings;
}

/**
 * adapter-pg cannot map PostgreSQL's internal `"char"` type (OID 18), which the
 * engine's catalog queries return (pg_class.relkind, pg_constraint.contype...).
 * Its values arrive as text anyway, so describe those columns as text (OID 25)
 * before the adapter sees the row description.
 */
function charAsTextPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  // Every connection listened to for its whole life (db/client.ts): a migration cut short fails, the process does not.
  guardConnections(pool, () => undefined);
  pool.on('connect', (client) => {
    (client as pg.Client).connection.prependListener('rowDescription', (msg: { fields: { dataTypeID: number }[] }) => {
      for (const field of msg.fields) if (field.dataTypeID === 18) field.dataTypeID = 25;
    });
  });
  return pool;
}

function pgSchema(url: string): string | undefined {
  return new URL(url).searchParams.get('schema') ?? undefined;
}

/**
 * adapter-pg's executeScript splits a migration at every `;`, which cuts
 * function bodies ($$ … $$) apart. Send the script whole, as one simple
 * query, as the native engine does.
 */
async function pgAdapter(url: string): Promise<SqlDriverAdapter> {
  const schema = pgSchema(url);
  const pool = charAsTextPool({ connectionString: url, max: 2 });
  const factory = new PrismaPg(pool, {
    disposeExternalPool: true,
    ...(schema ? { schema } : {}),
  });
  const adapter = await factory.connect();
  adapter.executeScript = async (script) => {
    await pool.query(script);
  };
  return adapter;
}

/**
 * The shadow database lives next to the target database under a throwaway
 * name, and is dropped WITH (FORCE) after its pool has closed (adapter-pg's
 * own shadow handling drops it while its connections are still open, and a
 * connectionString would silently point the "shadow" at the main database).
 */
async function pgShadowAdapter(url: string): Promise<SqlDriverAdapter> {
  const shadow = await createScratchDatabase(url, 'prisma_shadow');
  const adapter = await pgAdapter(shadow.url);
  const dispose = adapter.dispose.bind(adapter);
  adapter.dispose = () => dispose().finally(() => shadow.drop());
  return adapter;
}

/**
 * better-sqlite3's executeRaw runs one statement; the engine sends whole
 * migration scripts through it when it replays migrations. Run those as a script.
 */
function sqliteAdapter(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const executeRaw = adapter.executeRaw.bind(adapter);
  adapter.executeRaw = async (query) => {
    try {
      return await executeRaw(query);
    } catch (err) {
      if (query.args.length > 0 || !(err instanceof RangeError) || !/more than one statement/.test(err.message)) throw err;
      await adapter.executeScript(query.sql);
      return 0;
    }
  };
  return adapter;
}

function adapterFactory(target: DatabaseTarget, opened: SqlDriverAdapter[]): SqlMigrationAwareDriverAdapterFactory {
  // The engine does not always dispose what it connects, so keep track and
  // dispose everything (once) at the end.
  const track = async (connecting: Promise<SqlDriverAdapter>) => {
    const adapter = await connecting;
    const dispose = adapter.dispose.bind(adapter);
    let disposed: Promise<void> | undefined;
    adapter.dispose = () => (disposed ??= dispose());
    opened.push(adapter);
    return adapter;
  };
  if (target.provider === 'sqlite') {
    const sqlite = new PrismaBetterSqlite3({ url: target.file });
    return {
      provider: 'sqlite',
      adapterName: sqlite.adapterName,
      connect: () => track(sqlite.connect().then(sqliteAdapter)),
      // An in-memory database: nothing to clean up beyond closing it.
      connectToShadowDb: () => track(sqlite.connectToShadowDb().then(sqliteAdapter)),
    };
  }
  return {
    provider: 'postgres',
    adapterName: '@prisma/adapter-pg',
    connect: () => track(pgAdapter(target.url)),
    connectToShadowDb: () => track(pgShadowAdapter(target.url)),
  };
}

/**
 * Runs fn with a schema engine connected to the target database. The engine
 * and every connection it opened are closed afterwards, also on failure.
 * schemaFiles: the Prisma schema the engine starts with (at least one file).
 */
export async function withSchemaEngine<T>(
  target: DatabaseTarget,
  schemaFiles: readonly SchemaFile[],
  fn: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  if (schemaFiles.length === 0) throw new Error('withSchemaEngine: the engine needs at least one Prisma schema file');
  const { SchemaEngine } = await loadSchemaEngine();
  const opened: SqlDriverAdapter[] = [];
  const log = process.env.DEBUG?.includes('prisma') ? (line: string) => console.error(line) : () => {};
  let engine: SchemaEngine | undefined;
  try {
    engine = await SchemaEngine.new(
      { datamodels: schemaFiles.map((f): [string, string] => [f.path, f.content]) },
      log,
      bindMigrationAwareSqlAdapterFactory(adapterFactory(target, opened)),
    );
    return await fn(engine);
  } catch (err) {
    if (!(err instanceof WebAssembly.RuntimeError)) throw err;
    // A trapped instance (and the JS glue's state bound to it) cannot be
    // trusted again; loadSchemaEngine refuses from now on.
    lastPanic ??= String(err);
    engine = undefined;
    throw new Error(`Prisma schema engine panicked: ${lastPanic}`, { cause: err });
  } finally {
    engine?.free();
    await Promise.allSettled(opened.map((a) => a.dispose()));
  }
}

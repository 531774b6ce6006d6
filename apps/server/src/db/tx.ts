/**
 * The handle a unit of work is given (Database.transaction, autocommit): its raw statements (`tx.sql`), Prisma's API
 * joined to the same transaction on first use, and `afterCommit`.
 */
import type { Connection, PrismaTx } from './client.ts';
import type { Sql } from './sql.ts';

export interface TxExtras {
  /** Raw statements in this transaction. */
  readonly sql: Sql;
  /** Runs once the transaction has committed (not at all if it rolls back); errors go to the database's onError. */
  afterCommit(fn: () => unknown): void;
}

/** A transaction: Prisma's API on it (joined lazily) plus `sql` and `afterCommit`. */
export type Tx = PrismaTx & TxExtras;

const ROLLBACK = Symbol('rollback');

/**
 * Prisma's side of the current transaction, started on first use: a Prisma
 * interactive transaction that joins ours (db/client.ts) and stays open
 * until ours ends.
 */
export function joinPrisma(prisma: Connection['prisma']): { tx: PrismaTx; end(commit: boolean): Promise<void> } {
  let joined: Promise<{ ptx: PrismaTx }> | null = null;
  let finish: ((commit: boolean) => void) | null = null;
  let done: Promise<unknown> = Promise.resolve();
  let failure: { error: unknown } | null = null;
  const start = () => {
    joined ??= new Promise((resolve, reject) => {
      const decided = new Promise<boolean>((r) => (finish = r));
      done = prisma
        .$transaction(
          async (ptx) => {
            resolve({ ptx });
            if (!(await decided)) throw ROLLBACK;
          },
          // Ours decides when it ends; Prisma's own timeout would roll back only its half.
          { maxWait: 600_000, timeout: 600_000 },
        )
        // Kept, not thrown here: end() reports it, so it is never an unhandled rejection.
        .catch((error: unknown) => {
          reject(error);
          if (error !== ROLLBACK) failure = { error };
        });
    });
    return joined.then(({ ptx }) => ptx);
  };
  return {
    tx: lazyPrisma(start),
    async end(commit) {
      if (!joined) return;
      finish?.(commit);
      await done;
      if (failure && commit) throw failure.error;
    },
  };
}

export function txOf(prisma: PrismaTx, sql: Sql, hooks: (() => unknown)[]): Tx {
  const extras: TxExtras = { sql, afterCommit: (fn) => void hooks.push(fn) };
  return new Proxy(prisma, {
    get: (target, prop) => (prop === 'sql' || prop === 'afterCommit' ? extras[prop] : Reflect.get(target, prop)),
  }) as Tx;
}

/**
 * Prisma's API that starts the joined transaction on first use: a model call
 * (`tx.agent.findMany(…)`) or a client method (`tx.$executeRaw…`) waits for
 * `start`, then runs on the transaction it gave.
 */
function lazyPrisma(start: () => Promise<PrismaTx>): PrismaTx {
  const call =
    (path: PropertyKey[]) =>
    (...args: unknown[]) =>
      start().then((ptx) => {
        const owner = (path.length === 1 ? ptx : (ptx as unknown as Record<PropertyKey, unknown>)[path[0]!]) as Record<
          PropertyKey,
          (...a: unknown[]) => unknown
        >;
        return owner[path.at(-1)!]!(...args);
      });
  const models = new Map<PropertyKey, unknown>();
  return new Proxy({} as PrismaTx, {
    get(_, prop) {
      if (prop === 'then') return undefined;
      if (typeof prop === 'string' && prop.startsWith('$')) return call([prop]);
      let model = models.get(prop);
      if (!model) {
        model = new Proxy({}, { get: (__, method) => (method === 'then' ? undefined : call([prop, method])) });
        models.set(prop, model);
      }
      return model;
    },
  });
}

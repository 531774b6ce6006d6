import { AsyncLocalStorage } from 'node:async_hooks';
import { connectPrisma, type Prisma, type PrismaTx } from './client.ts';
import type { DatabaseTarget } from './target.ts';

/**
 * The only way the server touches the database: units of work.
 *
 * `transaction(fn)` runs fn in one interactive transaction; `run(fn)` runs fn
 * outside one (reads, and writes that are a single statement).
 *
 * SQLite has one connection, and with @prisma/adapter-better-sqlite3 a query
 * issued while another request holds an interactive transaction open runs
 * *inside* that transaction: if it rolls back, the other request's
 * acknowledged write is silently lost (see shared/notes/prisma-offline.md).
 * So on SQLite every unit of work passes through one FIFO gate: nothing
 * interleaves with an open transaction. better-sqlite3 executes synchronously
 * anyway, so the gate costs ordering, not parallelism. PostgreSQL has a pool
 * and real isolation, so there the gate is absent.
 */
const TRANSACTION_ATTEMPTS = 5;

/** A deadlock or serialization failure: PostgreSQL aborted the transaction so another could go on. */
function isRetryable(error: unknown): boolean {
  const e = error as { code?: string; message?: string; meta?: { code?: string } } | null;
  if (!e) return false;
  if (e.code === 'P2034' || e.code === '40P01' || e.code === '40001' || e.meta?.code === '40P01' || e.meta?.code === '40001') return true;
  return /deadlock detected|could not serialize access/i.test(e.message ?? '');
}

/** Told of every unit of work when it ends: its kind, how long it took (seconds), and whether it committed. */
export type UnitObserver = (kind: 'run' | 'transaction', seconds: number, ok: boolean) => void;

export class Database {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly inside = new AsyncLocalStorage<true>();
  private readonly observers: UnitObserver[] = [];

  /** Watch units of work (for metrics); returns the function that stops watching. */
  observe(observer: UnitObserver): () => void {
    this.observers.push(observer);
    return () => this.observers.splice(this.observers.indexOf(observer) >>> 0, 1);
  }

  private constructor(
    readonly target: DatabaseTarget,
    private readonly prisma: Prisma,
  ) {}

  static async connect(target: DatabaseTarget): Promise<Database> {
    return new Database(target, await connectPrisma(target));
  }

  get provider(): DatabaseTarget['provider'] {
    return this.target.provider;
  }

  run<T>(fn: (db: PrismaTx) => Promise<T>): Promise<T> {
    return this.timed(
      'run',
      this.unit(() => fn(this.prisma)),
    );
  }

  /**
   * On PostgreSQL two transactions can deadlock (each holds a row the other
   * wants); the database aborts one of them, which is then run again, from
   * the start, a few times with a random pause. Everything a transaction does
   * is inside it, so a retry is safe.
   */
  transaction<T>(fn: (tx: PrismaTx) => Promise<T>): Promise<T> {
    return this.timed(
      'transaction',
      this.unit(async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await this.prisma.$transaction((tx) => fn(tx), { maxWait: 10_000, timeout: 15_000 });
          } catch (error) {
            if (attempt >= TRANSACTION_ATTEMPTS || !isRetryable(error)) throw error;
            await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
          }
        }
      }),
    );
  }

  private timed<T>(kind: 'run' | 'transaction', work: Promise<T>): Promise<T> {
    if (this.observers.length === 0) return work;
    const started = performance.now();
    const report = (ok: boolean) => {
      const seconds = (performance.now() - started) / 1000;
      for (const observe of this.observers) observe(kind, seconds, ok);
    };
    work.then(
      () => report(true),
      () => report(false),
    );
    return work;
  }

  async close(): Promise<void> {
    await this.tail.catch(() => undefined);
    await this.prisma.$disconnect();
  }

  private unit<T>(work: () => Promise<T>): Promise<T> {
    if (this.inside.getStore()) {
      // A unit of work that opens another would wait on itself behind the gate.
      return Promise.reject(new Error('nested database unit of work: use the transaction you were given'));
    }
    if (this.provider !== 'sqlite') return this.inside.run(true, work);
    const run = this.tail.then(() => this.inside.run(true, work));
    this.tail = run.catch(() => undefined);
    return run;
  }
}

import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import type { SqlQueryable } from '@prisma/driver-adapter-utils';
import type pg from 'pg';
import { Availability } from './availability.ts';
import { type Connection, connect, connectionError, type PrismaTx, SerialClient } from './client.ts';
import { admissionAhead, admissionKey, FairQueue } from './admission.ts';
import { DatabaseUnavailable, databaseFault } from './faults.ts';
import { PostgresSql, type Sql } from './sql.ts';
import type { DatabaseTarget } from './target.ts';
import { joinPrisma, type Tx, txOf } from './tx.ts';

export type { Tx, TxExtras } from './tx.ts';

/**
 * The only way the server touches the database: units of work.
 *
 * `transaction(fn)` runs fn in one transaction. Its `tx` is both:
 *   - `tx.sql`: raw statements on the transaction's connection (db/sql.ts),
 *     what the per-subtask paths use;
 *   - Prisma's API (`tx.subtask.findMany(…)`), joined to the same transaction
 *     the first time it is used (a savepoint; see db/client.ts), so a unit
 *     that never calls Prisma pays nothing for it.
 * `tx.afterCommit(fn)` runs fn once the transaction has committed (events,
 * waking waiting claims, follow-up work).
 *
 * `run(fn)` runs fn outside a transaction (reads, and writes that are a
 * single statement).
 *
 * SQLite has one connection, shared by Prisma and the raw statements, and a
 * statement issued while another request's transaction is open would run
 * *inside* that transaction (and vanish if it rolled back). So on SQLite every
 * unit of work passes through one gate: nothing interleaves with an open
 * transaction. better-sqlite3 executes synchronously anyway, so the gate
 * costs ordering, not parallelism. PostgreSQL has a pool and real isolation:
 * there, at most as many units as the pool has connections run at once.
 *
 * Both wait in turn by owner (db/admission.ts): one owner's flood of units
 * takes every other turn while another owner has one waiting, not all of
 * them.
 *
 * Faults (PostgreSQL). A transaction whose connection was cut before its
 * COMMIT was sent (a terminated backend, a restart) was rolled back by the
 * database, so it runs again on another connection, like a deadlock's
 * loser; one cut during COMMIT is not run again (it may have committed) and
 * fails. Every failure is shown to `availability` (db/availability.ts),
 * which finds out whether the database is down; while it is unreachable,
 * units of work fail at once with DatabaseUnavailable. The edge answers all
 * of these 503 (db/faults.ts).
 */
const TRANSACTION_ATTEMPTS = 5;
/** A unit of work with no answer for this long makes `availability` look (a paused or partitioned server says nothing). */
const STALL_MS = 2000;

/** Errors of transactions cut before their COMMIT was sent: safe to run again. */
const cutBeforeCommit = new WeakSet<object>();

/** A deadlock or serialization failure: PostgreSQL aborted the transaction so another could go on. */
function isRetryable(error: unknown): boolean {
  const e = error as { code?: string; message?: string; meta?: { code?: string } } | null;
  if (!e) return false;
  if (e.code === 'P2034' || e.code === '40P01' || e.code === '40001' || e.meta?.code === '40P01' || e.meta?.code === '40001') return true;
  return /deadlock detected|could not serialize access/i.test(e.message ?? '');
}

/** `attempt`, run again (a few times, after a random pause) while it fails with a deadlock or a serialization failure. */
async function retried<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (n >= TRANSACTION_ATTEMPTS || !isRetryable(error)) throw error;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * n));
    }
  }
}

/** Told of every unit of work when it ends: its kind, how long it took (seconds), and whether it committed. */
export type UnitObserver = (kind: 'run' | 'transaction', seconds: number, ok: boolean) => void;

/** Told how long each unit of work waited before it ran: for the SQLite gate (PostgreSQL has none, so 0 there). */
export type GateObserver = (seconds: number) => void;

/** What the async context of a unit of work carries. */
interface Unit {
  /** The open transaction a Prisma transaction started now joins; absent in `run`. */
  joinable?: SqlQueryable;
}

/** Most transactions one SQLite commit carries. */
const GROUP_LIMIT = 256;

/**
 * How long (ms) the SQLite gate runs units back to back before it lets the
 * event loop turn. Its units are synchronous SQL, and each one's end starts
 * the next in the same task, so without a bound a busy owner's queue held
 * the event loop for hundreds of milliseconds at a time (measured: 10 ms
 * timers over 100 ms late in 68% of samples under a flood), and every other
 * request, read, timer and answer waited for all of it.
 */
const GATE_SLICE_MS = 4;

/** A transaction waiting for its group's commit. */
interface Grouped {
  fn: (tx: Tx) => Promise<unknown>;
  /** Runs its argument in the asking request's async context (its trace, its owner), wherever the gate runs it from. */
  within: <T>(run: () => T) => T;
  hooks: (() => unknown)[];
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** What waits at the SQLite gate: a unit run alone, or a transaction that commits with a group. */
type GateEntry = { asked: number } & ({ kind: 'run'; start(): void } | { kind: 'transaction'; grouped: Grouped });

/** PostgreSQL: units of work at once, at most (the pool's connections; db/client.ts). */
const POOL_UNITS = 10;

export class Database {
  /** SQLite: units waiting for the gate, in turn by owner, and whether one runs now. */
  private readonly gate = new FairQueue<GateEntry>();
  private gateBusy = false;
  private gateKick: NodeJS.Immediate | null = null;
  /** When the gate's current run of units began (null: since the event loop last turned). */
  private slice: number | null = null;
  private gateDrained: (() => void) | null = null;
  /** PostgreSQL: units waiting for a turn, in turn by owner, and how many run now. */
  private readonly admission = new FairQueue<() => void>();
  private admitted = 0;
  private readonly units = new AsyncLocalStorage<Unit>();
  private readonly observers: UnitObserver[] = [];
  private readonly gateObservers: GateObserver[] = [];
  private connection!: Connection;
  /** Whether the database answers (always up on SQLite). */
  availability!: Availability;
  /** Units of work under way on PostgreSQL, by number: when each began (ms), oldest first. */
  private readonly inflight = new Map<number, number>();
  private unitsStarted = 0;
  private watchdog: NodeJS.Timeout | null = null;

  private constructor(
    readonly target: DatabaseTarget,
    private readonly onError: (error: unknown) => void,
  ) {}

  static async connect(
    target: DatabaseTarget,
    onError: (error: unknown) => void = (e) => console.error('aitbc-server:', e),
  ): Promise<Database> {
    const db = new Database(target, onError);
    // An idle connection that fails (a restart, a terminated backend) is dropped by the pool; the database may be down.
    db.connection = await connect(
      target,
      () => db.units.getStore()?.joinable,
      (error) => db.availability?.failed(error),
    );
    db.availability = new Availability(db.connection.probe);
    if (db.connection.pool) {
      db.watchdog = setInterval(() => {
        const oldest = db.inflight.values().next().value;
        const waiting = oldest === undefined ? 0 : performance.now() - oldest;
        // Stalled only while nothing answers: units that queue for a connection behind others that do are just waiting.
        if (waiting > STALL_MS && db.availability.silentForMs > STALL_MS)
          db.availability.stalled(`a unit of work has had no answer for ${Math.round(waiting / 1000)} s`, waiting);
      }, 1000);
      db.watchdog.unref();
    }
    return db;
  }

  get provider(): DatabaseTarget['provider'] {
    return this.target.provider;
  }

  /** Watch units of work (for metrics); returns the function that stops watching. */
  observe(observer: UnitObserver): () => void {
    this.observers.push(observer);
    return () => this.observers.splice(this.observers.indexOf(observer) >>> 0, 1);
  }

  /** Watch the time units wait for the SQLite gate; returns the function that stops watching. */
  observeGate(observer: GateObserver): () => void {
    this.gateObservers.push(observer);
    return () => this.gateObservers.splice(this.gateObservers.indexOf(observer) >>> 0, 1);
  }

  /** Outside a transaction: Prisma, and raw statements that each commit on their own. */
  run<T>(fn: (db: PrismaTx, sql: Sql) => Promise<T>): Promise<T> {
    const { prisma, sqlite, pool } = this.connection;
    return this.timed(
      'run',
      this.watched(() => this.inTurn(() => this.unit({}, () => fn(prisma, sqlite ?? new PostgresSql(pool!))))),
    );
  }

  /**
   * A statement that commits on its own (on PostgreSQL no BEGIN or COMMIT), retried as a transaction is on a
   * deadlock or a serialization failure: the statement rolled back whole, so nothing of it was kept. `fn` may run
   * several, each committing on its own, when running the committed ones again changes nothing.
   */
  statement<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return retried(() => this.run((_, sql) => fn(sql)));
  }

  /**
   * A unit whose writes are one statement, given as a transaction is (`tx.sql`, Prisma, `afterCommit`). On PostgreSQL
   * it has no BEGIN and no COMMIT: its reads run as they would in a READ COMMITTED transaction (each sees what was
   * committed when it began) and its write commits on its own, so the unit costs two round trips less and the rows
   * its write locks are held only while that statement runs, not until a COMMIT comes back through a busy event loop.
   * `afterCommit` hooks run once `fn` has returned (its write committed). Retried from the start, like `statement`,
   * on a deadlock or a serialization failure (the write rolled back whole). A unit with more than one write that must
   * commit together needs `transaction`. On SQLite it is a transaction (its gate commits it with others).
   */
  autocommit<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.provider === 'sqlite') return this.transaction(fn);
    return retried(async () => {
      const hooks: (() => unknown)[] = [];
      const result = await this.run((prisma, sql) => fn(txOf(prisma, sql, hooks)));
      for (const hook of hooks) await Promise.resolve().then(hook).catch(this.onError);
      return result;
    });
  }

  /**
   * PostgreSQL: fails at once while the database is unreachable; otherwise
   * runs `work`, counted in flight (for the stall watchdog), and shows its
   * failure to `availability`.
   */
  private watched<T>(work: () => Promise<T>): Promise<T> {
    if (!this.connection.pool) return work();
    if (this.availability.state === 'unreachable') return Promise.reject(new DatabaseUnavailable('unreachable'));
    const id = ++this.unitsStarted;
    this.inflight.set(id, performance.now());
    const running = work();
    running.then(
      () => {
        this.inflight.delete(id);
        this.availability.answered();
      },
      (error: unknown) => {
        this.inflight.delete(id);
        this.availability.failed(error);
      },
    );
    return running;
  }

  /**
   * One transaction. On PostgreSQL two transactions can deadlock (each holds
   * a row the other wants); the database aborts one of them, which is then
   * run again, from the start, a few times with a random pause. Everything a
   * transaction does is inside it, so a retry is safe.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.timed(
      'transaction',
      this.watched(async () => {
        for (let attempt = 1; ; attempt++) {
          const hooks: (() => unknown)[] = [];
          try {
            // After-commit hooks run outside the turn: they may open units of their own.
            const result = await (this.provider === 'sqlite'
              ? this.sqliteTransaction(fn, hooks)
              : this.inTurn(() => this.postgresTransaction(fn, hooks)));
            for (const hook of hooks) await Promise.resolve().then(hook).catch(this.onError);
            return result;
          } catch (error) {
            const again =
              isRetryable(error) || (isObject(error) && cutBeforeCommit.has(error) && this.availability.state !== 'unreachable');
            if (attempt >= TRANSACTION_ATTEMPTS || !again) throw error;
            await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
          }
        }
      }),
    );
  }

  /** PostgreSQL: `work` runs in its owner's turn (at once while fewer than POOL_UNITS run); SQLite's gate does this itself. */
  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    if (!this.connection.pool) return work();
    return this.admitted < POOL_UNITS ? this.admit(work) : this.waitTurn(work);
  }

  /** PostgreSQL: runs `work` now, holding one of the POOL_UNITS turns until it ends. */
  private admit<T>(work: () => Promise<T>): Promise<T> {
    this.admitted++;
    const running = work();
    running.then(
      () => this.nextTurn(),
      () => this.nextTurn(),
    );
    return running;
  }

  /** PostgreSQL: `work` waits in its owner's queue for a turn. */
  private waitTurn<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      // Its turn comes from whichever unit ended last: it runs in its own request's async context (trace, owner).
      this.admission.push(
        admissionKey(),
        AsyncResource.bind(() => this.admit(work).then(resolve, reject)),
        admissionAhead(),
      ),
    );
  }

  private nextTurn(): void {
    this.admitted--;
    this.admission.shift()?.();
  }

  /**
   * Group commit: transactions that wait at the gate run together, each in a
   * savepoint of one SQLite transaction, and are acknowledged after its one
   * COMMIT. A commit writes every page its transaction dirtied to the WAL,
   * so a few transactions touching the same pages (a subtask's indexes, its
   * counters) cost little more than one. A unit that fails rolls back to its
   * savepoint alone.
   */
  private sqliteTransaction<T>(fn: (tx: Tx) => Promise<T>, hooks: (() => unknown)[]): Promise<T> {
    if (this.units.getStore()) return Promise.reject(new Error('nested database unit of work: use the transaction you were given'));
    return new Promise<T>((resolve, reject) => {
      const grouped = {
        fn: fn as (tx: Tx) => Promise<unknown>,
        within: AsyncResource.bind(<R>(run: () => R) => run()),
        hooks,
        resolve: resolve as (value: unknown) => void,
        reject,
      };
      this.gate.push(admissionKey(), { kind: 'transaction', grouped, asked: performance.now() }, admissionAhead());
      // Requests read in this turn of the event loop ask for theirs first, so an idle gate waits one turn to take them together.
      this.gateKick ??= setImmediate(() => {
        this.gateKick = null;
        this.pumpGate();
      });
    });
  }

  /**
   * The SQLite gate, when free: the next owner's unit in turn. A unit runs
   * alone; a transaction takes with it the transactions waiting at the head
   * of the owners' queues, in turn, up to GROUP_LIMIT and while the gate's
   * slice (GATE_SLICE_MS) lasts, and they commit together.
   */
  private pumpGate(): void {
    if (this.gateBusy) return;
    if (this.gate.size === 0) {
      this.gateDrained?.();
      return;
    }
    if (this.sliceSpent()) {
      // Its slice is spent: the event loop turns (I/O, timers) before the next unit.
      this.gateKick ??= setImmediate(() => {
        this.gateKick = null;
        this.pumpGate();
      });
      return;
    }
    const first = this.gate.shift()!;
    this.gateBusy = true;
    this.observeWait(first);
    const done = () => {
      this.gateBusy = false;
      this.pumpGate();
    };
    if (first.kind === 'run') {
      first.start();
      return;
    }
    void this.commitGroup(first.grouped).finally(done);
  }

  /** Whether the gate's run of units since the event loop last turned has used up its GATE_SLICE_MS. */
  private sliceSpent(): boolean {
    const now = performance.now();
    if (this.slice === null) {
      this.slice = now;
      setImmediate(() => (this.slice = null));
      return false;
    }
    return now - this.slice > GATE_SLICE_MS;
  }

  private observeWait(entry: GateEntry): void {
    for (const observe of this.gateObservers) observe((performance.now() - entry.asked) / 1000);
  }

  /**
   * The next transaction waiting at the gate, in turn by owner, to join the
   * running group: while the group is under GROUP_LIMIT and the gate's slice
   * lasts, so that a group commits within its slice.
   */
  private joinGroup(group: Grouped[]): Grouped | undefined {
    if (group.length >= GROUP_LIMIT || this.slice === null || performance.now() - this.slice > GATE_SLICE_MS) return undefined;
    const more = this.gate.shift((e) => e.kind === 'transaction');
    if (!more) return undefined;
    this.observeWait(more);
    const { grouped } = more as Extract<GateEntry, { kind: 'transaction' }>;
    group.push(grouped);
    return grouped;
  }

  private async commitGroup(first: Grouped): Promise<void> {
    const sqlite = this.connection.sqlite!;
    const joinable = this.connection.queryableOn(null);
    const settled: (() => void)[] = [];
    const group = [first];
    sqlite.statement('BEGIN IMMEDIATE').run();
    try {
      for (let next: Grouped | undefined = first; next; next = this.joinGroup(group)) {
        const unit = next;
        sqlite.statement('SAVEPOINT aitbc_unit').run();
        const prisma = joinPrisma(this.connection.prisma);
        try {
          const result = await unit.within(() => this.units.run({ joinable }, () => unit.fn(txOf(prisma.tx, sqlite, unit.hooks))));
          await prisma.end(true);
          sqlite.statement('RELEASE aitbc_unit').run();
          settled.push(() => unit.resolve(result));
        } catch (error) {
          await prisma.end(false).catch(() => undefined);
          sqlite.statement('ROLLBACK TO aitbc_unit').run();
          sqlite.statement('RELEASE aitbc_unit').run();
          unit.hooks.length = 0;
          settled.push(() => unit.reject(error));
        }
      }
      sqlite.statement('COMMIT').run();
    } catch (error) {
      if (sqlite.connection.inTransaction) sqlite.statement('ROLLBACK').run();
      for (const unit of group) unit.reject(error);
      return;
    }
    for (const settle of settled) settle();
  }

  private async postgresTransaction<T>(fn: (tx: Tx) => Promise<T>, hooks: (() => unknown)[]): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.connection.pool!.connect();
    } catch (error) {
      // No connection: nothing was sent.
      if (isObject(error) && databaseFault(error) === 'unreachable') cutBeforeCommit.add(error);
      throw error;
    }
    // Our statements and the joined Prisma's share this connection, one at a time (SerialClient).
    const serial = new SerialClient(client);
    let broken: Error | undefined;
    let committing = false;
    try {
      await serial.query({ text: 'BEGIN' });
      return await this.unit({ joinable: this.connection.queryableOn(serial) }, async () => {
        const prisma = joinPrisma(this.connection.prisma);
        try {
          const result = await fn(txOf(prisma.tx, new PostgresSql(serial), hooks));
          await prisma.end(true);
          committing = true;
          await serial.query({ text: 'COMMIT' });
          return result;
        } catch (error) {
          await prisma.end(false).catch(() => undefined);
          await serial.query({ text: 'ROLLBACK' }).catch((e: Error) => (broken = e));
          throw error;
        }
      });
    } catch (error) {
      if (!committing && isObject(error) && databaseFault(error) === 'unreachable') cutBeforeCommit.add(error);
      throw error;
    } finally {
      // A connection that reported an error (it may have ended) is dropped, never handed out again.
      client.release(broken ?? connectionError(client));
    }
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
    if (this.watchdog) clearInterval(this.watchdog);
    this.availability.close();
    if (this.gateBusy || this.gate.size > 0) await new Promise<void>((resolve) => (this.gateDrained = resolve));
    await this.connection.close();
  }

  private unit<T>(context: Unit, work: () => Promise<T>): Promise<T> {
    if (this.units.getStore()) {
      // A unit of work that opens another would wait on itself behind the gate.
      return Promise.reject(new Error('nested database unit of work: use the transaction you were given'));
    }
    if (this.provider !== 'sqlite') return this.units.run(context, work);
    return new Promise<T>((resolve, reject) => {
      // The gate starts it from whichever unit ended last: it runs in its own request's async context (trace, owner).
      const start = AsyncResource.bind(() => {
        const running = this.units.run(context, work);
        running.then(resolve, reject).finally(() => {
          this.gateBusy = false;
          this.pumpGate();
        });
      });
      this.gate.push(admissionKey(), { kind: 'run', start, asked: performance.now() }, admissionAhead());
      this.pumpGate();
    });
  }
}

const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;

/**
 * The time leases, heartbeats and deadlines are stamped and checked by.
 *
 * Fencing compares a time one instance wrote (a lease's end) with the time
 * another reads (is it over?). With each instance on its own clock, an
 * instance 5 s fast refuses a lease 5 s early and one 5 s slow lets it run
 * 5 s late. So on PostgreSQL every instance keeps the database's time: its
 * clock is measured against PostgreSQL's `clock_timestamp()`. A measurement
 * sends at local time t0, the database reads T, the answer arrives at t1;
 * T happened somewhere between t0 and t1, so taking it at the midpoint
 *
 *     offset = T − (t0 + t1) / 2,   error ≤ (t1 − t0) / 2
 *
 * bounds the error by half the round trip, however unequal the two legs.
 * Several samples are taken and the shortest round trip kept (on a local
 * network well under a millisecond). Between measurements `now()` advances
 * with this process's monotonic clock from the last one, so a step of the
 * wall clock (NTP, an operator) does not move it; it is measured again every
 * `everyMs` (30 s), which bounds the monotonic clock's drift too (well under
 * a millisecond in that time). Two instances then agree within the sum of
 * their bounds. A measurement that fails (the database down) keeps the last.
 *
 * SQLite has one instance: the local clock.
 *
 * Tests simulate a machine whose clock is off with
 * AITBC_TEST_CLOCK_OFFSET_MS, honoured only under a test runner (NODE_ENV=test
 * or vitest): `skewForTests` (main.ts, at start) makes every `Date` of the
 * process read that much ahead (or behind), as a misconfigured machine's
 * would, and the database clock must correct it.
 */
import type { Database } from './db/database.ts';
import { sql } from './db/sql.ts';

export interface Clock {
  /** Now, on the shared time line (the database's on PostgreSQL). Never goes backwards. */
  now(): Date;
  /** Database time minus this machine's, in ms, at the last measurement (0 for the local clock). */
  readonly offsetMs: number;
  /** The most `now()` was off the database's clock at the last measurement: half its round trip, in ms (0 for the local clock). */
  readonly errorBoundMs: number;
  /** Stops measuring. */
  close(): void;
}

/** This machine's clock: ms since the epoch. */
export type LocalTime = () => number;

/** The local clock (SQLite). */
export function localClock(local: LocalTime = () => Date.now()): Clock {
  return { now: () => new Date(local()), offsetMs: 0, errorBoundMs: 0, close() {} };
}

/**
 * Under a test runner only: AITBC_TEST_CLOCK_OFFSET_MS shifts this process's
 * `Date` (`new Date()`, `Date.now()`) by that many ms, as on a machine whose
 * clock is wrong. Returns the shift (0: none).
 */
export function skewForTests(env: NodeJS.ProcessEnv = process.env): number {
  if (env.NODE_ENV !== 'test' && !env.VITEST) return 0;
  const skew = Number(env.AITBC_TEST_CLOCK_OFFSET_MS ?? 0);
  if (!Number.isFinite(skew) || skew === 0) return 0;
  const RealDate = Date;
  class SkewedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(RealDate.now() + skew);
      else super(...(args as [string | number]));
    }
    static override now(): number {
      return RealDate.now() + skew;
    }
    // Dates made before the shift, or by code that kept the original, are Dates still.
    static override [Symbol.hasInstance](value: unknown): boolean {
      return value instanceof RealDate;
    }
  }
  globalThis.Date = SkewedDate as DateConstructor;
  return skew;
}

/** One measurement: the database's time (ms since the epoch) as it answered. */
export type ReadDatabaseTime = () => Promise<number>;

const SAMPLES = 5;

class DatabaseClock implements Clock {
  offsetMs = 0;
  errorBoundMs = 0;
  /** The local time and the monotonic time of the last measurement's midpoint. */
  private anchorLocal: number;
  private anchorMono = performance.now();
  private last = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly read: ReadDatabaseTime,
    private readonly local: LocalTime,
  ) {
    this.anchorLocal = local();
  }

  now(): Date {
    const ms = this.anchorLocal + this.offsetMs + (performance.now() - this.anchorMono);
    this.last = Math.max(this.last, ms);
    return new Date(this.last);
  }

  /** Takes SAMPLES readings and keeps the one with the shortest round trip. */
  async measure(): Promise<void> {
    let best: { offset: number; bound: number; local: number; mono: number } | null = null;
    for (let i = 0; i < SAMPLES; i++) {
      const mono0 = performance.now();
      const local0 = this.local();
      const at = await this.read();
      const mono1 = performance.now();
      const half = (mono1 - mono0) / 2;
      const local = local0 + half;
      if (!best || half < best.bound) best = { offset: at - local, bound: half, local, mono: mono0 + half };
    }
    if (!best) return;
    this.offsetMs = best.offset;
    this.errorBoundMs = best.bound;
    this.anchorLocal = best.local;
    this.anchorMono = best.mono;
  }

  every(ms: number): void {
    this.timer = setInterval(() => void this.measure().catch(() => undefined), ms);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** A clock on the database's time, measured now and every `everyMs` (against `local`, this machine's clock). */
export async function databaseClock(read: ReadDatabaseTime, everyMs = 30_000, local: LocalTime = () => Date.now()): Promise<Clock> {
  const clock = new DatabaseClock(read, local);
  await clock.measure();
  clock.every(everyMs);
  return clock;
}

/** PostgreSQL's clock_timestamp(), in ms since the epoch. */
export const readPostgresTime =
  (db: Database): ReadDatabaseTime =>
  async () => {
    const row = await db.run((_, q) => q.one<{ ms: number }>(sql`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS "ms"`));
    return Number(row!.ms);
  };

/** The clock of a server on `db`: the database's on PostgreSQL, the local one on SQLite. */
export function clockFor(db: Database, everyMs?: number): Promise<Clock> {
  return db.provider === 'postgresql' ? databaseClock(readPostgresTime(db), everyMs) : Promise.resolve(localClock());
}

/** The moment `seconds` after `at`: a lease's end, a claim window, a deadline, a member's suspect time. */
export const later = (at: Date, seconds: number): Date => new Date(at.getTime() + seconds * 1000);

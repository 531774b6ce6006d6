import { type DatabaseFault, databaseFault } from './faults.ts';

/**
 * Whether the database answers, as this instance last found out.
 *
 * A database error (db/faults.ts) or a unit of work that hangs makes it
 * look: one probe on a connection of its own. A probe that answers means
 * the error was one connection's (a terminated backend): nothing is said.
 * A busy database is not a down one: while other units of work still get
 * answers, a slow unit or a probe that times out declares nothing (a
 * thousand requests queued for ten connections wait, and that is all).
 * One that does not declares an outage (one log line), and probes go on,
 * with jittered backoff up to a second, until the database answers again
 * (one log line, with how long the outage lasted). Meanwhile:
 *
 *   - `unreachable`: units of work fail at once (db/database.ts), without
 *     waiting for a connection that will not come; the edge answers 503;
 *   - `read-only`: reads go on, writes fail (25006) and answer 503;
 *
 * and whoever must know (waiting long polls, the sweeper, the heartbeat
 * buffer) is told through `onChange`. SQLite has no probe: it is always up.
 */
export type DatabaseState = 'up' | DatabaseFault;

/** What the database is now, or a rejection when it cannot be reached. */
export type Probe = () => Promise<'up' | 'read-only'>;

/** Where the outage lines go: the server's logger once it has one (server.ts), stderr before. */
export interface OutageLog {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 1000;
/** A probe with no answer by then counts as unreachable (a paused or partitioned server accepts and says nothing). */
export const PROBE_TIMEOUT_MS = 2000;

const stderrLog: OutageLog = {
  error: (_fields, message) => console.error(`aitbc-server: ${message}`),
  warn: (_fields, message) => console.error(`aitbc-server: ${message}`),
};

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').find((l) => l.trim()) ?? text;
}

/** The wait before the next probe: `ms` ± 25%, so instances that lost the database together do not probe in step. */
const jittered = (ms: number) => ms * (0.75 + Math.random() * 0.5);

export class Availability {
  private current: DatabaseState = 'up';
  private outageStarted = 0;
  private probing = false;
  private closed = false;
  private readonly listeners = new Set<(state: DatabaseState, previous: DatabaseState) => void>();
  private timer: NodeJS.Timeout | null = null;
  /** When a unit of work last got its answer (performance.now()): progress, which a slow moment does not stop. */
  private lastAnswer = performance.now();
  private wake: (() => void) | null = null;
  /** Outages declared since start, and their seconds in all (for /metrics). */
  outages = 0;
  outageSeconds = 0;
  log: OutageLog = stderrLog;

  constructor(private readonly probe: Probe | null) {}

  get state(): DatabaseState {
    return this.current;
  }

  /** Seconds since the current outage began (0 while up). */
  get outageFor(): number {
    return this.current === 'up' ? 0 : (Date.now() - this.outageStarted) / 1000;
  }

  /** What a 503 asks the client to wait: a moment for a cut connection, a little longer during an outage. */
  retryAfterSeconds(): number {
    return this.current === 'up' ? 1 : 2;
  }

  /** Told of every change of state; returns the function that stops telling. */
  onChange(listener: (state: DatabaseState, previous: DatabaseState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A unit of work got its answer: the database answers. */
  answered(): void {
    this.lastAnswer = performance.now();
  }

  /** Milliseconds since any unit of work got an answer. */
  get silentForMs(): number {
    return performance.now() - this.lastAnswer;
  }

  /** A unit of work failed: the fault its error shows (null: not the database's), and a look at the database if it is one. */
  failed(error: unknown): DatabaseFault | null {
    const fault = databaseFault(error);
    if (fault) this.check(error);
    return fault;
  }

  /**
   * Something had no answer for too long (a unit of work, a health check): look. `waitingMs`: how long it has
   * waited, so an outage it reveals is dated from when the database stopped answering, not from when it was noticed.
   */
  stalled(what: string, waitingMs = 0): void {
    this.check(new Error(what), Date.now() - waitingMs);
  }

  private check(reason: unknown, since = Date.now()): void {
    if (!this.probe || this.probing || this.closed) return;
    this.probing = true;
    void this.probeUntilUp(since, firstLine(reason)).finally(() => {
      this.probing = false;
    });
  }

  private async probeUntilUp(since: number, reason: string): Promise<void> {
    let wait = FIRST_RETRY_MS;
    for (;;) {
      let seen: DatabaseState;
      let why = reason;
      const asked = performance.now();
      try {
        seen = await withTimeout(this.probe!(), PROBE_TIMEOUT_MS);
      } catch (error) {
        // Too many connections: it answers, it is only full (the pool's connections still work). No answer in time, or
        // the probe's own connection cut (pg_terminate_backend ending every backend at once), while other units got
        // their answers meanwhile: busy, or one connection's fault, not an outage; the state stays what it was.
        const full = (error as { code?: string }).code === '53300';
        const fault = databaseFault(error);
        const answeredMeanwhile = fault !== 'read-only' && this.lastAnswer > asked;
        seen = full ? 'up' : answeredMeanwhile ? this.current : fault === 'read-only' ? 'read-only' : 'unreachable';
        // node-postgres says only "timeout expired" when the server accepts and never answers.
        why = /^timeout expired$|^no answer within/.test(firstLine(error))
          ? `no answer within ${PROBE_TIMEOUT_MS / 1000} s`
          : firstLine(error);
      }
      if (this.closed) return;
      if (seen === 'up') {
        if (this.current !== 'up') this.back();
        return;
      }
      this.enter(seen, since, why);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, jittered(wait));
        this.timer.unref();
      });
      this.timer = null;
      this.wake = null;
      wait = Math.min(MAX_RETRY_MS, wait * 2);
    }
  }

  private enter(state: DatabaseFault, since: number, reason: string): void {
    const previous = this.current;
    if (previous === state) return;
    this.current = state;
    if (previous === 'up') {
      this.outageStarted = since;
      this.outages++;
    }
    const fields = { database: state, reason };
    if (state === 'read-only') this.log.error(fields, `database is read-only (${reason}): writes answer 503 until it accepts them again`);
    else this.log.error(fields, `database unreachable (${reason}): requests answer 503 until it is back`);
    this.tell(previous);
  }

  private back(): void {
    const previous = this.current;
    const seconds = (Date.now() - this.outageStarted) / 1000;
    this.outageSeconds += seconds;
    this.current = 'up';
    const outage = Math.round(seconds * 10) / 10;
    this.log.warn(
      { database: 'up', outage_s: outage },
      `database ${previous === 'read-only' ? 'writable' : 'reachable'} again after ${outage} s`,
    );
    this.tell(previous);
  }

  private tell(previous: DatabaseState): void {
    for (const listener of this.listeners) {
      try {
        listener(this.current, previous);
      } catch (error) {
        console.error('aitbc-server: database state listener failed:', error);
      }
    }
  }

  /** Stops probing (shutdown). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  // The probe may still settle later: keep its rejection from going unhandled.
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

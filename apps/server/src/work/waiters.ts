/**
 * Long polls: a request whose answer is not ready yet waits here until an
 * event names its key (from this instance at once, from others through
 * LISTEN/NOTIFY), or until its wait ends. A waiting request costs a map
 * entry and a timer, no database reads.
 *
 *   - claims wait for work assigned to their agent or member
 *     (`claimWaiters`: `work.assigned` events, keyed by assignee);
 *   - task status waits for its task to end (`taskWaiters`: `work.changed`
 *     events, keyed by task id; a sweep that names no one wakes them all).
 *
 * When the event bus listens again after losing its connection
 * (`bus.reconnected`), every waiter wakes once: an event meant for it may
 * have been missed. When the database goes down (`interrupt`), every wait
 * ends at once with what it has (an empty claim, the status as last read):
 * nobody is held for the length of an outage, and the next request hears
 * 503 until the database is back.
 */
import { RequestTurns } from '../db/admission.ts';
import type { EventBus, ServerEvent } from '../events.ts';

/** An event's keys: the ids whose waiters wake, or EVERYONE. */
export const EVERYONE = Symbol('everyone');
type Keys = readonly string[] | typeof EVERYONE;
const NONE: Keys = [];

export interface Watch {
  /**
   * Waits for work assigned since the watch began or since the last call,
   * until `deadline` (ms since the epoch) or `signal`. True when woken by
   * an assignment; false when the wait ended otherwise (timeout, abort, the
   * server closing, the database going down).
   */
  next(deadline: number, signal?: AbortSignal): Promise<boolean>;
  /** The wait was cut short (the database went down, the server is closing): answer now with what there is. */
  readonly interrupted: boolean;
  dispose(): void;
}

export class Waiters {
  private readonly watching = new Map<string, Set<() => void>>();
  private readonly closing = new Set<() => void>();
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(events: EventBus, keysOf: (event: ServerEvent) => Keys) {
    this.unsubscribe = events.subscribe((e) => {
      const keys = e.kind === 'bus.reconnected' ? EVERYONE : keysOf(e);
      if (keys === EVERYONE) for (const key of this.watching.keys()) this.wake(key);
      else for (const key of keys) this.wake(key);
    });
  }

  /** The database went down: every wait under way ends now, unwoken (an empty answer); later ones wait as usual. */
  interrupt(): void {
    for (const stop of this.closing) stop();
  }

  /** Requests waiting now (for /metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.watching.values()) n += set.size;
    return n;
  }

  private wake(key: string): void {
    for (const wake of this.watching.get(key) ?? []) wake();
  }

  /** Start watching before the read that may find nothing, so an event between the two is not missed. */
  watch(key: string): Watch {
    let woken = false;
    let interrupted = false;
    let resolve: ((woken: boolean) => void) | null = null;
    const onWake = () => {
      woken = true;
      resolve?.(true);
    };
    const onClose = () => {
      interrupted = true;
      resolve?.(false);
    };
    const set = this.watching.get(key) ?? new Set<() => void>();
    this.watching.set(key, set);
    set.add(onWake);
    this.closing.add(onClose);
    return {
      get interrupted() {
        return interrupted;
      },
      next: (deadline, signal) => {
        if (woken) {
          woken = false;
          return Promise.resolve(true);
        }
        const ms = deadline - Date.now();
        if (this.closed) interrupted = true;
        if (interrupted || ms <= 0 || signal?.aborted) return Promise.resolve(false);
        // A waiting request gives its turn to others meanwhile (db/admission.ts).
        return RequestTurns.idle(
          () =>
            new Promise<boolean>((done) => {
              const timer = setTimeout(() => finish(false), ms);
              const onAbort = () => finish(false);
              signal?.addEventListener('abort', onAbort, { once: true });
              function finish(value: boolean) {
                clearTimeout(timer);
                signal?.removeEventListener('abort', onAbort);
                resolve = null;
                woken = false;
                done(value);
              }
              resolve = finish;
            }),
        );
      },
      dispose: () => {
        set.delete(onWake);
        if (set.size === 0) this.watching.delete(key);
        this.closing.delete(onClose);
        resolve?.(false);
      },
    };
  }

  /** Shutdown: every waiting request answers now, and later ones do not wait. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const stop of this.closing) stop();
  }
}

/** Claims wake when work is assigned to their agent or member. */
export const claimWaiters = (events: EventBus) => new Waiters(events, (e) => (e.kind === 'work.assigned' ? e.assignees : NONE));

/** Task status waits wake when their task's work moves. */
export const taskWaiters = (events: EventBus) => new Waiters(events, (e) => (e.kind === 'work.changed' && e.task_id ? [e.task_id] : NONE));

/**
 * Read, and while the answer is not `done`, wait for the key's next event
 * and read again, until `seconds` pass (or `signal`, or shutdown): the last
 * read is the answer.
 */
export async function longPoll<T>(
  waiters: Waiters,
  key: string,
  seconds: number | undefined,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  signal?: AbortSignal,
): Promise<T> {
  if (!seconds) return read();
  const deadline = Date.now() + seconds * 1000;
  const watch = waiters.watch(key);
  try {
    for (;;) {
      const value = await read();
      if (done(value) || !(await watch.next(deadline, signal))) return value;
    }
  } finally {
    watch.dispose();
  }
}

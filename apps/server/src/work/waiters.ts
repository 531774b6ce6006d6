/**
 * Long-poll claims: a claim that found nothing waits here until work is
 * assigned to its agent or member (a `work.assigned` event: from this
 * instance at once, from others through LISTEN/NOTIFY), or until its wait
 * ends. A waiting claim costs a map entry and a timer, no database reads.
 */
import type { EventBus } from '../events.ts';

export interface Watch {
  /**
   * Waits for work assigned since the watch began or since the last call,
   * until `deadline` (ms since the epoch) or `signal`. True when woken by
   * an assignment; false when the wait ended otherwise (timeout, abort, the
   * server closing).
   */
  next(deadline: number, signal?: AbortSignal): Promise<boolean>;
  dispose(): void;
}

export class ClaimWaiters {
  private readonly watching = new Map<string, Set<() => void>>();
  private readonly closing = new Set<() => void>();
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(events: EventBus) {
    this.unsubscribe = events.subscribe((e) => {
      if (e.kind === 'work.assigned') for (const id of e.assignees) this.wake(id);
    });
  }

  /** Claims waiting now (for /metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.watching.values()) n += set.size;
    return n;
  }

  private wake(assigneeId: string): void {
    for (const wake of this.watching.get(assigneeId) ?? []) wake();
  }

  /** Start watching before the claim that may find nothing, so an assignment between the two is not missed. */
  watch(assigneeId: string): Watch {
    let woken = false;
    let resolve: ((woken: boolean) => void) | null = null;
    const onWake = () => {
      woken = true;
      resolve?.(true);
    };
    const onClose = () => resolve?.(false);
    const set = this.watching.get(assigneeId) ?? new Set<() => void>();
    this.watching.set(assigneeId, set);
    set.add(onWake);
    this.closing.add(onClose);
    return {
      next: (deadline, signal) => {
        if (woken) {
          woken = false;
          return Promise.resolve(true);
        }
        const ms = deadline - Date.now();
        if (this.closed || ms <= 0 || signal?.aborted) return Promise.resolve(false);
        return new Promise<boolean>((done) => {
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
        });
      },
      dispose: () => {
        set.delete(onWake);
        if (set.size === 0) this.watching.delete(assigneeId);
        this.closing.delete(onClose);
        resolve?.(false);
      },
    };
  }

  /** Shutdown: every waiting claim answers now (empty), and later ones do not wait. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const stop of this.closing) stop();
  }
}

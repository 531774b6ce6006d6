/**
 * Fair shares of the database between owners (Hatchet's GROUP_ROUND_ROBIN,
 * Temporal's fairness keys). Units of work wait for the database in one
 * queue per owner, and the queues are served in turn, one unit each: an
 * owner whose 256 workers keep the queue full takes every other turn, not
 * every turn, when another owner has a unit waiting. Within an owner, first
 * come, first served. The owner is the request's (the tRPC procedures set
 * it from the caller's key: withOwner); the server's own work (the sweep,
 * flushes) has a key of its own.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const owners = new AsyncLocalStorage<string>();

/** The server's own units of work (the sweep, buffered writes): a key no owner id can be (owner ids have no space). */
export const SERVER_KEY = 'the server';

/** Runs `fn` on behalf of `ownerId`: the units of work it opens wait in that owner's queue. */
export function withOwner<T>(ownerId: string, fn: () => T): T {
  return owners.run(ownerId, fn);
}

/** Whose unit of work this is. */
export const admissionKey = (): string => owners.getStore() ?? SERVER_KEY;

/** A queue per key, served in turn: `shift` takes the head of the next key's queue. */
export class FairQueue<T> {
  private readonly queues = new Map<string, T[]>();
  /** Keys with something waiting, in the order they are served; the next is the first. */
  private readonly turn: string[] = [];
  size = 0;

  push(key: string, item: T): void {
    const queue = this.queues.get(key);
    if (queue) queue.push(item);
    else {
      this.queues.set(key, [item]);
      this.turn.push(key);
    }
    this.size++;
  }

  /** The head of the next key in turn whose head `accepts` (all: the next key's), which then goes to the back of the turn. */
  shift(accepts: (item: T) => boolean = () => true): T | undefined {
    for (let i = 0; i < this.turn.length; i++) {
      const key = this.turn[i]!;
      const queue = this.queues.get(key)!;
      if (!accepts(queue[0]!)) continue;
      const item = queue.shift()!;
      this.turn.splice(i, 1);
      if (queue.length > 0) this.turn.push(key);
      else this.queues.delete(key);
      this.size--;
      return item;
    }
    return undefined;
  }
}

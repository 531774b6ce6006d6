/**
 * Fair shares of the database between owners (Hatchet's GROUP_ROUND_ROBIN,
 * Temporal's fairness keys). Units of work wait for the database in one
 * queue per owner, and the queues are served in turn, one unit each: an
 * owner whose 256 workers keep the queue full takes every other turn, not
 * every turn, when another owner has a unit waiting. Within an owner, first
 * come, first served, except that what an owner submits or changes goes
 * ahead of its workers' claims and results (`ahead`). The owner is the request's (the tRPC procedures set
 * it from the caller's key: withOwner); the server's own work (the sweep,
 * flushes) has a key of its own.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** A request's owner, whether it goes ahead of the owner's other requests, and the turn it holds (RequestTurns). */
interface OnBehalf {
  owner: string;
  ahead: boolean;
  turns: RequestTurns | null;
  holding: boolean;
}

const owners = new AsyncLocalStorage<OnBehalf>();

/** The server's own units of work (the sweep, buffered writes): a key no owner id can be (owner ids have no space). */
export const SERVER_KEY = 'the server';

/** Runs `fn` on behalf of `ownerId`: the units of work it opens wait in that owner's queue. */
export function withOwner<T>(ownerId: string, fn: () => T): T {
  return owners.run({ owner: ownerId, ahead: false, turns: null, holding: false }, fn);
}

/** Whose unit of work this is. */
export const admissionKey = (): string => owners.getStore()?.owner ?? SERVER_KEY;

/** Whether this unit of work goes ahead of its owner's others (RequestTurns.run's `ahead`). */
export const admissionAhead = (): boolean => owners.getStore()?.ahead ?? false;

/** Requests running at once by default (all owners), and of one owner: see RequestTurns. */
export const DEFAULT_REQUESTS_RUNNING = 64;
export const DEFAULT_REQUESTS_RUNNING_PER_OWNER = 8;

/**
 * Requests running at once: at most `limit` in all, `perOwner` of one
 * owner while another owner's requests run or wait, and `limit - perOwner`
 * of an owner alone; past these, a request waits (parked, costing no CPU) in its
 * owner's queue before its procedure starts, and the queues are served in
 * turn by owner like the database's units. The database's turns alone do
 * not keep a neighbour's latency: every step of a request also waits for
 * the event loop, and an owner with hundreds of requests in flight fills it
 * (measured: another owner's request p99 13-19x its idle figure). With at
 * most `perOwner` of the flooding owner's requests running, another owner's
 * step waits behind a few of its steps, not hundreds. A long poll gives its
 * turn back while it waits (`idle`). A request `ahead` (an owner's
 * submission or change) waits at the head of its owner's queue, behind no
 * claim or result of its own workers: a high-priority execution submitted
 * behind a flood is not queued behind the flood's own requests.
 */
export class RequestTurns {
  private running = 0;
  private readonly byOwner = new Map<string, number>();
  private readonly waiting = new FairQueue<{ owner: string; go: () => void }>();

  constructor(
    readonly limit: number,
    readonly perOwner: number,
  ) {}

  /** Runs `fn` on behalf of `ownerId` once it has a turn (`ahead`: before the owner's other waiting requests). */
  async run<T>(ownerId: string, fn: () => Promise<T>, ahead = false): Promise<T> {
    await this.take(ownerId, ahead);
    const turn: OnBehalf = { owner: ownerId, ahead, turns: this, holding: true };
    try {
      return await owners.run(turn, fn);
    } finally {
      // What runs on after the procedure (a subscription's stream) holds no turn.
      if (turn.holding) this.give(ownerId);
      turn.holding = false;
    }
  }

  /** Requests holding a turn, and waiting for one. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.size };
  }

  private take(owner: string, ahead: boolean): Promise<void> {
    // First come, first served within an owner: behind its own waiting requests, unless it goes ahead of them.
    if (this.running < this.limit && (this.byOwner.get(owner) ?? 0) < this.capOf(owner) && (ahead || !this.waiting.has(owner))) {
      this.start(owner);
      return Promise.resolve();
    }
    return new Promise<void>((go) => this.waiting.push(owner, { owner, go }, ahead));
  }

  /**
   * While another owner runs or waits, each takes `perOwner` at most. Alone, an owner takes every turn but
   * `perOwner`: those stay free, so another owner's first requests start at once rather than wait for one of the
   * flood's to end (measured: a flood's requests end in convoys, a group commit answering dozens at once, and another
   * owner's execute waited for a turn 145–436 ms at p99).
   */
  private capOf(owner: string): number {
    for (const other of this.byOwner.keys()) if (other !== owner) return this.perOwner;
    for (const other of this.waiting.keys()) if (other !== owner) return this.perOwner;
    return this.perOwner < this.limit ? this.limit - this.perOwner : this.limit;
  }

  private start(owner: string): void {
    this.running++;
    this.byOwner.set(owner, (this.byOwner.get(owner) ?? 0) + 1);
  }

  private give(owner: string): void {
    this.running--;
    const left = this.byOwner.get(owner)! - 1;
    if (left > 0) this.byOwner.set(owner, left);
    else this.byOwner.delete(owner);
    while (this.running < this.limit) {
      const next = this.waiting.shift((w) => (this.byOwner.get(w.owner) ?? 0) < this.capOf(w.owner));
      if (!next) return;
      this.start(next.owner);
      next.go();
    }
  }

  /** The running request (if it holds a turn) gives it back while `fn` waits, and takes one again after. */
  static async idle<T>(fn: () => Promise<T>): Promise<T> {
    const turn = owners.getStore();
    if (!turn?.turns || !turn.holding) return fn();
    turn.holding = false;
    turn.turns.give(turn.owner);
    try {
      return await fn();
    } finally {
      await turn.turns.take(turn.owner, turn.ahead);
      turn.holding = true;
    }
  }
}

/** A queue per key, served in turn: `shift` takes the head of the next key's queue. */
export class FairQueue<T> {
  private readonly queues = new Map<string, T[]>();
  /** Keys with something waiting, in the order they are served; the next is the first. */
  private readonly turn: string[] = [];
  size = 0;

  /** The keys with something waiting. */
  keys(): IterableIterator<string> {
    return this.queues.keys();
  }

  /** Something of `key`'s waits. */
  has(key: string): boolean {
    return this.queues.has(key);
  }

  /** `item` waits behind `key`'s others, or (`ahead`) before them; either way `key` keeps its place in the turn. */
  push(key: string, item: T, ahead = false): void {
    const queue = this.queues.get(key);
    if (queue) {
      if (ahead) queue.unshift(item);
      else queue.push(item);
    } else {
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

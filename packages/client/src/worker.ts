/**
 * createWorker: run a handler on an agent's or a swarm member's subtasks,
 * as a job queue's worker does (BullMQ's Worker, graphile-worker's task list).
 *
 *   const worker = createWorker({ url, apiKey, agent: 'a1-id', concurrency: 8,
 *     handler: async (payload) => ({ doubled: payload.items.map((x) => 2 * x) }) });
 *   await worker.run();   // until worker.stop()
 *
 * It claims as many subtasks as it has free slots in one request, and when
 * none wait it long-polls (the server answers as soon as work is assigned).
 * One timer extends every lease it holds (leases.ts). Results and failures
 * are posted in batches, flushed a few milliseconds after the first one is
 * ready (outcomes.ts). A handler whose lease is lost (expired and handed on,
 * or its task cancelled) sees its `signal` abort. An unreachable server is
 * retried with backoff; the server refusing the worker (an unknown agent, a
 * revoked key) stops it with that error.
 *
 * Backpressure: a lease is held from its claim until the server has answered
 * for its outcome, and the worker holds at most `concurrency` plus one full
 * results request (MAX_RESULT_BATCH) of leases. Handlers go on while a full
 * batch of outcomes is on its way, so a fast server costs no throughput (the
 * batched bench on PostgreSQL: 32–39 s for 60,000 subtasks, against 42–51 s
 * unbounded on the same loaded machine); when the server takes outcomes more
 * slowly than the handlers make them, claims slow down to match instead of
 * piling up leases the worker cannot keep. (Freeing a slot only at the
 * server's answer bounds the leases too, but leaves every slot idle for each
 * round trip; a margin of one round of slots, min(concurrency, 100), made the
 * same bench 25% slower: its result requests went out half full.)
 */
import { MAX_CLAIM_BATCH, MAX_RESULT_BATCH } from '@aitbc/core';
import { type AitbcClient, createClient } from './client.ts';
import { type ClaimedSubtask, type Held, Leases, subtaskLabel } from './leases.ts';
import { type Outcome, Outcomes, type WorkerSummary } from './outcomes.ts';
import { GaveUp, untilReachable } from './reachability.ts';

export { type ClaimedSubtask, subtaskLabel } from './leases.ts';
export type { WorkerSummary } from './outcomes.ts';

export interface WorkerJob {
  subtask: ClaimedSubtask;
  /** Aborts when the lease is lost or the worker is abandoned: stop working on it. */
  signal: AbortSignal;
  /** How log lines name it, e.g. `subtask 3f… (execution e…, seq 4, attempt 1)`. */
  label: string;
}

export type WorkerHandler = (payload: unknown, job: WorkerJob) => unknown | Promise<unknown>;

export interface WorkerOptions {
  /** An existing client, or `url` (and `apiKey`) to make one. */
  client?: AitbcClient;
  url?: string;
  apiKey?: string;
  /** Whose work: an agent id, or a swarm member id (exactly one). */
  agent?: string;
  member?: string;
  handler: WorkerHandler;
  /** Subtasks run at once (default 1). */
  concurrency?: number;
  /** The lease to ask for (default: the network's or task's). */
  leaseSeconds?: number;
  /** How long an empty claim waits for work (default 30, at most 30). */
  waitSeconds?: number;
  /** How long a finished outcome waits for others to share its request (default 2 ms). */
  flushMs?: number;
  /** Stop after this many subtasks were finished (any outcome). */
  maxSubtasks?: number;
  /** One line per thing that happened (claimed, completed, failed, lost, the server unreachable). */
  log?: (line: string) => void;
  /** Stops claiming when aborted; running subtasks finish and are reported (as stop()). */
  signal?: AbortSignal;
  /** Abandons running subtasks when aborted (as abandon()). */
  abandonSignal?: AbortSignal;
}

export interface Worker {
  /** Works until stopped (or maxSubtasks); resolves with what it did, rejects if the server refuses the worker. */
  run(): Promise<WorkerSummary>;
  /** Stop claiming; running subtasks finish and their outcomes are posted. */
  stop(): void;
  /** Stop now: running subtasks' signals abort, and each is reported as failed while its lease holds. */
  abandon(): void;
  readonly summary: Readonly<WorkerSummary>;
  /** Handlers running now. */
  readonly running: number;
  /** The subtasks whose lease it holds (running, or their outcome not yet taken), as log lines name them. */
  holding(): string[];
}

export function createWorker(options: WorkerOptions): Worker {
  if (!options.agent === !options.member) throw new Error('createWorker: give exactly one of `agent` and `member`');
  if (!options.client && !options.url) throw new Error('createWorker: give `client` or `url`');
  const client = options.client ?? createClient({ url: options.url!, ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}) });
  const concurrency = Math.max(1, options.concurrency ?? 1);
  // The slots, and one full results request of leases whose outcomes are on their way (see the file comment).
  const mostHeld = concurrency + MAX_RESULT_BATCH;
  const waitSeconds = Math.min(30, Math.max(0, options.waitSeconds ?? 30));
  const log = options.log ?? (() => {});
  const lease = options.leaseSeconds !== undefined ? { lease_seconds: options.leaseSeconds } : {};
  const summary: WorkerSummary = { claimed: 0, completed: 0, failed: 0, lost: 0 };

  const stopping = new AbortController();
  const abandoning = new AbortController();
  if (options.signal?.aborted) stopping.abort();
  else options.signal?.addEventListener('abort', () => stopping.abort(), { once: true });
  if (options.abandonSignal?.aborted) abandoning.abort();
  else options.abandonSignal?.addEventListener('abort', () => abandoning.abort(), { once: true });

  /** Wakes the claim loop waiting for a slot: a handler ended, or a lease was let go. */
  let slotFreed: (() => void) | null = null;
  const freeSlot = () => {
    slotFreed?.();
    slotFreed = null;
  };
  const leases = new Leases({ client, leaseSeconds: options.leaseSeconds, log, released: freeSlot });
  const outcomes = new Outcomes({ client, flushMs: options.flushMs ?? 2, log, summary, release: (h) => leases.release(h) });
  const running = new Set<Promise<void>>();
  const untilSlotFreed = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        stopping.signal.removeEventListener('abort', done);
        resolve();
      };
      slotFreed = done;
      stopping.signal.addEventListener('abort', done, { once: true });
    });
  let reserved = 0;
  let finished = 0;

  const claim = (max: number, signal: AbortSignal | undefined): Promise<{ subtasks: ClaimedSubtask[] }> =>
    options.agent
      ? client.work.claims.mutate({ agent_id: options.agent, max, wait_seconds: waitSeconds, ...lease }, { signal })
      : client.swarm.claims.mutate({ member_id: options.member!, max, wait_seconds: waitSeconds, ...lease }, { signal });

  /** Runs the handler; resolves when it is done (its slot is free), while its outcome is posted on under its lease. */
  async function work(subtask: ClaimedSubtask): Promise<void> {
    const h: Held = leases.hold(subtask);
    const signal = AbortSignal.any([h.lost.signal, abandoning.signal]);
    const began = performance.now();
    let outcome: Outcome;
    try {
      const result = await options.handler(subtask.payload, { subtask, signal, label: h.label });
      outcome = { result: result === undefined ? null : result };
    } catch (error) {
      outcome = { error: error instanceof Error ? error.message : String(error) };
    }
    if (h.lost.signal.aborted) {
      summary.lost++;
      leases.release(h);
      return;
    }
    if (abandoning.signal.aborted) outcome = { error: 'the worker was interrupted before the command finished' };
    outcomes.post(h, outcome, ((performance.now() - began) / 1000).toFixed(2));
  }

  async function claimLoop(): Promise<void> {
    while (!stopping.signal.aborted) {
      const remaining = options.maxSubtasks === undefined ? Number.POSITIVE_INFINITY : options.maxSubtasks - reserved;
      if (remaining <= 0) break;
      const free = Math.min(concurrency - running.size, mostHeld - leases.held.size, remaining, MAX_CLAIM_BATCH);
      if (free <= 0) {
        await untilSlotFreed();
        continue;
      }
      reserved += free;
      let claimed: ClaimedSubtask[];
      try {
        claimed = (await untilReachable('claim', (signal) => claim(free, signal), { log, until: stopping.signal })).subtasks;
      } catch (error) {
        reserved -= free;
        if (error instanceof GaveUp) break;
        // The server refuses this worker anything (unknown agent, bad key): stop, after what runs.
        await Promise.all(running);
        throw error;
      }
      reserved -= free - claimed.length;
      for (const subtask of claimed) {
        summary.claimed++;
        const job = work(subtask);
        log(`${subtaskLabel(subtask)}: claimed`);
        running.add(job);
        void job.finally(() => {
          running.delete(job);
          finished++;
          if (options.maxSubtasks !== undefined && finished >= options.maxSubtasks) stopping.abort();
          freeSlot();
        });
      }
    }
    await Promise.all(running);
  }

  return {
    summary,
    get running() {
      return running.size;
    },
    holding: () => [...leases.held.values()].map((h) => h.label),
    stop: () => stopping.abort(),
    abandon: () => {
      stopping.abort();
      abandoning.abort();
    },
    async run() {
      const beating = new AbortController();
      const beats = leases.run(beating.signal);
      try {
        await claimLoop();
        await outcomes.drained();
        return { ...summary };
      } finally {
        beating.abort();
        await beats;
      }
    },
  };
}

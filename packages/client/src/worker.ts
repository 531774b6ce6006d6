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
 * One timer extends every lease it holds in one request. Results and
 * failures are posted in batches, flushed a few milliseconds after the first
 * one is ready. A handler whose lease is lost (expired and handed on, or its
 * task cancelled) sees its `signal` abort. An unreachable server is retried
 * with backoff; the server refusing the worker (an unknown agent, a revoked
 * key) stops it with that error.
 */
import type { ClaimedSubtask as Claimed, RecordedOutcome } from '@aitbc/core';
import { type AitbcClient, createClient, describeError } from './client.ts';

/** A claimed subtask as the worker gets it (the typed client makes an `unknown` payload optional). */
export type ClaimedSubtask = Omit<Claimed, 'payload'> & { payload?: unknown };

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

export interface WorkerSummary {
  claimed: number;
  completed: number;
  failed: number;
  /** Subtasks whose lease was lost (expired and handed on, or cancelled) before their outcome was taken. */
  lost: number;
}

export interface Worker {
  /** Works until stopped (or maxSubtasks); resolves with what it did, rejects if the server refuses the worker. */
  run(): Promise<WorkerSummary>;
  /** Stop claiming; running subtasks finish and their outcomes are posted. */
  stop(): void;
  /** Stop now: running subtasks' signals abort, and each is reported as failed. */
  abandon(): void;
  readonly summary: Readonly<WorkerSummary>;
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 8000;
const MAX_CLAIM = 100;
const MAX_RESULTS = 100;
const MAX_LEASES = 1000;

/** The server answered and said no (not "not now": 429 and 503 are retried). */
function isRefusal(error: unknown): boolean {
  const { httpStatus } = describeError(error);
  return httpStatus !== null && httpStatus !== 429 && httpStatus !== 503;
}

function reason(error: unknown): string {
  const info = describeError(error);
  return info.httpStatus === null ? `${info.code}: ${info.message}` : info.message;
}

/** A wait that ends early when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** The server stayed unreachable until the caller stopped waiting. */
class GaveUp extends Error {}

/** How a claimed subtask is named in log lines. */
export function subtaskLabel(s: ClaimedSubtask): string {
  const where = s.execution_id ? `execution ${s.execution_id}` : `task ${s.task_id}`;
  return `subtask ${s.subtask_id} (${where}, seq ${s.seq}${s.replica ? `, replica ${s.replica}` : ''}, attempt ${s.attempt})`;
}

interface Held {
  subtask: ClaimedSubtask;
  label: string;
  expiresAt: number;
  lost: AbortController;
  /** Its outcome is on its way: a heartbeat's refusal then is the outcome racing it, and the outcome's answer says what happened. */
  posting?: boolean;
}

type Outcome = { result: unknown } | { error: string };

export function createWorker(options: WorkerOptions): Worker {
  if (!options.agent === !options.member) throw new Error('createWorker: give exactly one of `agent` and `member`');
  if (!options.client && !options.url) throw new Error('createWorker: give `client` or `url`');
  const client = options.client ?? createClient({ url: options.url!, ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}) });
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const waitSeconds = Math.min(30, Math.max(0, options.waitSeconds ?? 30));
  const flushMs = options.flushMs ?? 2;
  const log = options.log ?? (() => {});
  const lease = options.leaseSeconds !== undefined ? { lease_seconds: options.leaseSeconds } : {};
  const summary: WorkerSummary = { claimed: 0, completed: 0, failed: 0, lost: 0 };

  const stopping = new AbortController();
  const abandoning = new AbortController();
  options.signal?.addEventListener('abort', () => stopping.abort(), { once: true });
  options.abandonSignal?.addEventListener('abort', () => abandoning.abort(), { once: true });
  const held = new Map<string, Held>();
  let reserved = 0;
  let finished = 0;
  let slotFreed: (() => void) | null = null;

  const claim = (max: number, signal: AbortSignal): Promise<{ subtasks: ClaimedSubtask[] }> =>
    options.agent
      ? client.work.claims.mutate({ agent_id: options.agent, max, wait_seconds: waitSeconds, ...lease }, { signal })
      : client.swarm.claims.mutate({ member_id: options.member!, max, wait_seconds: waitSeconds, ...lease }, { signal });

  /** Retries `call` while the server cannot be reached (or asks to wait), until `until` aborts (then GaveUp). */
  async function reachable<T>(what: string, call: () => Promise<T>, until: AbortSignal): Promise<T> {
    let wait = BACKOFF_MIN_MS;
    let warned = false;
    for (;;) {
      try {
        const value = await call();
        if (warned) log(`${what}: the server answers again`);
        return value;
      } catch (error) {
        if (until.aborted) throw new GaveUp(reason(error));
        if (isRefusal(error)) throw error;
        if (!warned)
          log(
            `${what}: ${describeError(error).httpStatus === null ? 'cannot reach the server' : 'the server asks to wait'} (${reason(error)}); retrying`,
          );
        warned = true;
        await sleep(wait, until);
        if (until.aborted) throw new GaveUp(reason(error));
        wait = Math.min(BACKOFF_MAX_MS, wait * 2);
      }
    }
  }

  // ---------------------------------------------------------------- outcomes, batched

  const pending: { held: Held; outcome: Outcome; seconds: string; done: () => void }[] = [];
  let flushTimer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> = Promise.resolve();

  function post(h: Held, outcome: Outcome, seconds: string): Promise<void> {
    return new Promise((done) => {
      pending.push({ held: h, outcome, seconds, done });
      if (pending.length >= MAX_RESULTS) flushNow();
      else flushTimer ??= setTimeout(flushNow, flushMs);
    });
  }

  function flushNow(): void {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = null;
    const batch = pending.splice(0, MAX_RESULTS);
    if (pending.length > 0) flushTimer = setTimeout(flushNow, flushMs);
    if (batch.length === 0) return;
    flushing = flushing.then(() => send(batch));
  }

  async function send(batch: typeof pending): Promise<void> {
    // Worth posting as long as the longest of these leases may hold.
    const deadline = AbortSignal.timeout(Math.max(1000, Math.max(...batch.map((b) => b.held.expiresAt)) - Date.now()));
    const what = batch.length === 1 ? batch[0]!.held.label : `${batch.length} subtasks`;
    let answers: RecordedOutcome[];
    try {
      answers = (
        await reachable(
          `${what}: posting ${batch.length === 1 ? ('result' in batch[0]!.outcome ? 'the result' : 'the failure') : 'the outcomes'}`,
          () =>
            client.work.results.mutate({
              results: batch.map((b) => ({ subtask_id: b.held.subtask.subtask_id, lease_id: b.held.subtask.lease_id, ...b.outcome })),
            }),
          deadline,
        )
      ).results;
    } catch (error) {
      for (const b of batch) {
        summary.lost++;
        if (error instanceof GaveUp)
          log(`${b.held.label}: the lease ended before the server could be reached; the server will hand it out again`);
        else log(`${b.held.label}: the server did not take the outcome: ${reason(error)}`);
        b.done();
      }
      return;
    }
    const invalid: typeof pending = [];
    batch.forEach((b, i) => {
      const answer = answers[i];
      if (answer && answer.status !== 'refused') {
        if ('result' in b.outcome) {
          summary.completed++;
          log(`${b.held.label}: completed in ${b.seconds} s`);
        } else {
          summary.failed++;
          log(`${b.held.label}: failed in ${b.seconds} s: ${b.outcome.error}`);
        }
      } else if (answer?.refusal === 'INVALID') {
        // The server refused the result itself (too large, too deep): reported as the subtask's failure.
        summary.failed++;
        log(`${b.held.label}: the server refused the result (${answer.message}); reporting a failure`);
        invalid.push({ ...b, outcome: { error: `the server refused the result: ${answer.message}` } });
        return;
      } else {
        summary.lost++;
        log(`${b.held.label}: the server did not take the outcome: ${answer?.message ?? 'no answer'}`);
      }
      b.done();
    });
    if (invalid.length > 0) {
      await client.work.results
        .mutate({
          results: invalid.map((b) => ({ subtask_id: b.held.subtask.subtask_id, lease_id: b.held.subtask.lease_id, ...b.outcome })),
        })
        .catch((e) => log(`${what}: ${reason(e)}`));
      for (const b of invalid) b.done();
    }
  }

  // ---------------------------------------------------------------- leases: one heartbeat for all

  async function heartbeats(done: AbortSignal): Promise<void> {
    while (!done.aborted) {
      const soonest = Math.min(...[...held.values()].map((h) => h.expiresAt), Date.now() + 10_000);
      // A third of the shortest remaining lease, so two beats can be missed before it ends.
      await sleep(Math.max(100, (soonest - Date.now()) / 3), done);
      if (done.aborted || held.size === 0) continue;
      const leases = [...held.values()].slice(0, MAX_LEASES);
      try {
        const answer = await client.work.heartbeats.mutate({
          leases: leases.map((h) => ({ subtask_id: h.subtask.subtask_id, lease_id: h.subtask.lease_id })),
          ...lease,
        });
        answer.leases.forEach((state, i) => {
          const h = leases[i]!;
          if (state.held) h.expiresAt = Date.parse(state.lease_expires_at!);
          else if (!h.lost.signal.aborted && !h.posting) {
            log(`${h.label}: lease lost (${state.message}); stopping its command`);
            h.lost.abort();
          }
        });
      } catch (error) {
        // Unreachable: try again at the next beat; the leases may still hold.
        if (isRefusal(error)) log(`heartbeat refused (${reason(error)})`);
      }
    }
  }

  // ---------------------------------------------------------------- running subtasks

  /** Outcomes still being posted (their leases stay held and heartbeated until then). */
  const posting = new Set<Promise<void>>();

  /** Runs the handler; resolves when it is done (the slot is free), while its outcome is posted on. */
  async function work(subtask: ClaimedSubtask): Promise<void> {
    const h: Held = { subtask, label: subtaskLabel(subtask), expiresAt: Date.parse(subtask.lease_expires_at), lost: new AbortController() };
    held.set(subtask.subtask_id, h);
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
      held.delete(subtask.subtask_id);
      return;
    }
    if (abandoning.signal.aborted) outcome = { error: 'the worker was interrupted before the command finished' };
    h.posting = true;
    const posted = post(h, outcome, ((performance.now() - began) / 1000).toFixed(2)).finally(() => {
      held.delete(subtask.subtask_id);
      posting.delete(posted);
    });
    posting.add(posted);
  }

  async function claimLoop(): Promise<void> {
    const running = new Set<Promise<void>>();
    while (!stopping.signal.aborted) {
      const remaining = options.maxSubtasks === undefined ? Number.POSITIVE_INFINITY : options.maxSubtasks - reserved;
      if (remaining <= 0) break;
      const free = Math.min(concurrency - running.size, remaining, MAX_CLAIM);
      if (free <= 0) {
        await new Promise<void>((r) => (slotFreed = r));
        continue;
      }
      reserved += free;
      let claimed: ClaimedSubtask[];
      try {
        claimed = (await reachable('claim', () => claim(free, stopping.signal), stopping.signal)).subtasks;
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
          slotFreed?.();
          slotFreed = null;
        });
      }
    }
    await Promise.all(running);
  }

  return {
    summary,
    stop: () => stopping.abort(),
    abandon: () => {
      stopping.abort();
      abandoning.abort();
    },
    async run() {
      const beating = new AbortController();
      const beats = heartbeats(beating.signal);
      try {
        await claimLoop();
        flushNow();
        await Promise.all(posting);
        await flushing;
        return { ...summary };
      } finally {
        beating.abort();
        await beats;
      }
    },
  };
}

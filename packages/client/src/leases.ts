/**
 * The leases a worker holds, from its claim until the server takes the
 * subtask's outcome, and the one timer that extends them all.
 *
 * Every held lease is in every beat, in requests of at most the server's
 * limit (MAX_HEARTBEAT_BATCH), a lease whose outcome is on its way too: a
 * slow results request must not cost it its lease. A beat is due a third of
 * the way from the last extension to the lease's end, so two beats can be
 * missed before it ends. Only leases the server still extends time the
 * beats: one a beat could not extend (lost, cancelled, its outcome racing the
 * beat) is not beaten again, and a lease that ran out on this clock without a
 * beat to say so is beaten at the backoff's pace, so neither makes the timer
 * spin. A beat that fails (the server unreachable) is retried with backoff.
 */
import { type ClaimedSubtask as Claimed, MAX_HEARTBEAT_BATCH } from '@aitbc/core';
import type { AitbcClient } from './client.ts';
import { backoffMs, isRefusal, reason } from './reachability.ts';

/** A claimed subtask as the worker gets it (the typed client makes an `unknown` payload optional). */
export type ClaimedSubtask = Omit<Claimed, 'payload'> & { payload?: unknown };

/** How a claimed subtask is named in log lines. */
export function subtaskLabel(s: ClaimedSubtask): string {
  const where = s.execution_id ? `execution ${s.execution_id}` : `task ${s.task_id}`;
  return `subtask ${s.subtask_id} (${where}, seq ${s.seq}${s.replica ? `, replica ${s.replica}` : ''}, attempt ${s.attempt})`;
}

/** Beats no closer together than this, however near a lease's end. */
const MIN_GAP_MS = 100;

export interface Held {
  subtask: ClaimedSubtask;
  label: string;
  /** When the lease ends, as the server last said. */
  expiresAt: number;
  /** When its next beat is due. */
  beatAt: number;
  /** Aborts when the lease is lost: its handler's signal. */
  lost: AbortController;
  /** Its outcome is on its way: a beat's refusal then is the outcome racing it, and the outcome's answer says what happened. */
  posting: boolean;
  /** Why a beat could not extend it (then it is not beaten again), in log words: `cancelled (…)`, `lease lost (…)`. */
  refused: string | null;
}

/** A third of the way from now to `expiresAt`. */
const beatFor = (expiresAt: number, now = Date.now()) => now + (expiresAt - now) / 3;

export class Leases {
  readonly held = new Map<string, Held>();
  /** Ends the beat loop's wait early: a new lease is due before the beat it planned. */
  private wake: (() => void) | null = null;
  private plannedAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly deps: {
      client: AitbcClient;
      /** The lease length the worker asks for (default: each subtask's). */
      leaseSeconds: number | undefined;
      log: (line: string) => void;
      /** A lease was let go: a slot may be free. */
      released: () => void;
    },
  ) {}

  hold(subtask: ClaimedSubtask): Held {
    const expiresAt = Date.parse(subtask.lease_expires_at);
    const h: Held = {
      subtask,
      label: subtaskLabel(subtask),
      expiresAt,
      beatAt: beatFor(expiresAt),
      lost: new AbortController(),
      posting: false,
      refused: null,
    };
    this.held.set(subtask.subtask_id, h);
    if (h.beatAt < this.plannedAt) this.wake?.();
    return h;
  }

  /** Its outcome was taken, or it is lost and its handler is done: nothing more to do for it. */
  release(h: Held): void {
    if (this.held.get(h.subtask.subtask_id) === h) this.held.delete(h.subtask.subtask_id);
    this.deps.released();
  }

  /** Extends every held lease, on time, until `done` aborts (which also aborts a beat in flight). */
  async run(done: AbortSignal): Promise<void> {
    let failures = 0;
    let lastBeat = Date.now();
    while (!done.aborted) {
      const due = this.due(failures, lastBeat);
      if (Date.now() < due) {
        await this.waitUntil(due, done);
        continue; // woken early (a new lease) or on time: work out what is due again
      }
      const leases = [...this.held.values()].filter((h) => h.refused === null);
      lastBeat = Date.now();
      failures = (await this.beat(leases, done)) ? 0 : failures + 1;
    }
  }

  /** When the next beat is due: the soonest due lease, never sooner than the gap after the last beat (or the backoff, after failures). */
  private due(failures: number, lastBeat: number): number {
    const now = Date.now();
    let due = Number.POSITIVE_INFINITY;
    for (const h of this.held.values()) {
      if (h.refused !== null) continue;
      // A lease past its end on this clock, no beat having said so: one more beat tells its handler, at the backoff's pace.
      due = Math.min(due, h.expiresAt > now ? h.beatAt : lastBeat + backoffMs(failures));
    }
    return Math.max(due, lastBeat + (failures > 0 ? backoffMs(failures) : MIN_GAP_MS));
  }

  private waitUntil(at: number, done: AbortSignal): Promise<void> {
    this.plannedAt = at;
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        done.removeEventListener('abort', end);
        this.wake = null;
        this.plannedAt = Number.POSITIVE_INFINITY;
        resolve();
      };
      // Nothing held: wait for a lease (or the end) rather than a time.
      const timer = Number.isFinite(at) ? setTimeout(end, Math.max(0, at - Date.now())) : undefined;
      this.wake = end;
      done.addEventListener('abort', end, { once: true });
    });
  }

  /** One beat over `leases`, in chunks; whether every chunk was answered. */
  private async beat(leases: Held[], done: AbortSignal): Promise<boolean> {
    const chunks: Held[][] = [];
    for (let i = 0; i < leases.length; i += MAX_HEARTBEAT_BATCH) chunks.push(leases.slice(i, i + MAX_HEARTBEAT_BATCH));
    const answered = await Promise.all(chunks.map((chunk) => this.beatChunk(chunk, done)));
    return answered.every(Boolean);
  }

  private async beatChunk(chunk: Held[], done: AbortSignal): Promise<boolean> {
    const { client, leaseSeconds, log } = this.deps;
    try {
      const answer = await client.work.heartbeats.mutate(
        {
          leases: chunk.map((h) => ({ subtask_id: h.subtask.subtask_id, lease_id: h.subtask.lease_id })),
          ...(leaseSeconds !== undefined ? { lease_seconds: leaseSeconds } : {}),
        },
        { signal: done },
      );
      const now = Date.now();
      answer.leases.forEach((state, i) => {
        const h = chunk[i]!;
        if (state.held) {
          h.expiresAt = Date.parse(state.lease_expires_at!);
          h.beatAt = beatFor(h.expiresAt, now);
          return;
        }
        if (h.refused !== null) return;
        h.refused = `${state.refusal === 'CANCELLED' ? 'cancelled' : 'lease lost'} (${state.message})`;
        if (h.posting || h.lost.signal.aborted) return;
        log(`${h.label}: ${h.refused}; stopping its work`);
        h.lost.abort();
      });
      return true;
    } catch (error) {
      if (done.aborted) return true;
      // Unreachable: tried again after the backoff; the leases may still hold. A refusal of the whole request is said.
      if (isRefusal(error)) log(`heartbeat refused (${reason(error)})`);
      return false;
    }
  }
}

/**
 * A worker's outcomes on their way to the server: batched (flushed a few
 * milliseconds after the first is ready, or at MAX_RESULT_BATCH), one
 * request at a time, each carrying what waited for it (up to a full batch),
 * each answered item by item. An outcome is worth posting
 * while its lease may hold: it is retried while the server cannot be reached
 * and given up, a request in flight included, once every lease of its batch
 * has run out (the server then hands the subtask out again). Its lease is
 * released, freeing its slot, only when the server has answered for it.
 */
import { MAX_RESULT_BATCH, type RecordedOutcome } from '@aitbc/core';
import type { AitbcClient } from './client.ts';
import type { Held } from './leases.ts';
import { GaveUp, reason, untilReachable } from './reachability.ts';

export interface WorkerSummary {
  claimed: number;
  completed: number;
  failed: number;
  /** Subtasks whose lease was lost (expired and handed on, or cancelled) before their outcome was taken. */
  lost: number;
}

export type Outcome = { result: unknown } | { error: string };

interface Pending {
  held: Held;
  outcome: Outcome;
  seconds: string;
}

/** Aborts once every one of these leases has run out (heartbeats move their ends on), and not before a second from now. */
function whenLeasesEnd(leases: Held[]): { signal: AbortSignal; dispose(): void } {
  const ended = new AbortController();
  const notBefore = Date.now() + 1000;
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const left = Math.max(notBefore, ...leases.map((h) => h.expiresAt)) - Date.now();
    if (left <= 0) ended.abort();
    else timer = setTimeout(check, left);
  };
  check();
  return { signal: ended.signal, dispose: () => clearTimeout(timer) };
}

export class Outcomes {
  private readonly pending: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** The request on its way (one at a time): what waits meanwhile goes in the next one, up to a full batch. */
  private sending: Promise<void> | null = null;

  constructor(
    private readonly deps: {
      client: AitbcClient;
      flushMs: number;
      log: (line: string) => void;
      summary: WorkerSummary;
      /** The server answered for this lease (or it ran out): let it go. */
      release: (h: Held) => void;
    },
  ) {}

  post(held: Held, outcome: Outcome, seconds: string): void {
    held.posting = true;
    this.pending.push({ held, outcome, seconds });
    if (this.sending) return; // it goes with the next request, when this one is answered
    if (this.pending.length >= MAX_RESULT_BATCH) this.sendNext();
    else this.timer ??= setTimeout(() => this.sendNext(), this.deps.flushMs);
  }

  /** Resolves once every outcome posted so far has been answered for or given up. */
  async drained(): Promise<void> {
    while (this.sending || this.pending.length > 0) {
      if (!this.sending) this.sendNext();
      await this.sending;
    }
  }

  /**
   * Sends what waits, up to a full batch, unless a request is on its way. The
   * batch is made when it goes, not when its first outcome was ready, so that
   * while the server is slow each request carries all that piled up.
   */
  private sendNext(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.sending || this.pending.length === 0) return;
    const batch = this.pending.splice(0, MAX_RESULT_BATCH);
    this.sending = this.send(batch).finally(() => {
      this.sending = null;
      // What waited through that request has waited long enough: it goes now.
      this.sendNext();
    });
  }

  private async send(batch: Pending[]): Promise<void> {
    const { client, log, summary, release } = this.deps;
    const what = batch.length === 1 ? batch[0]!.held.label : `${batch.length} subtasks`;
    const posting = batch.length === 1 ? ('result' in batch[0]!.outcome ? 'the result' : 'the failure') : 'the outcomes';
    const ends = whenLeasesEnd(batch.map((b) => b.held));
    let answers: RecordedOutcome[];
    try {
      answers = (
        await untilReachable(
          `${what}: posting ${posting}`,
          (signal) =>
            client.work.results.mutate(
              { results: batch.map((b) => ({ subtask_id: b.held.subtask.subtask_id, lease_id: b.held.subtask.lease_id, ...b.outcome })) },
              { signal },
            ),
          { log, until: ends.signal },
        )
      ).results;
    } catch (error) {
      for (const b of batch) {
        summary.lost++;
        if (error instanceof GaveUp)
          log(
            b.held.refused !== null
              ? `${b.held.label}: ${b.held.refused} before the server answered for its outcome`
              : `${b.held.label}: the lease ended before the server could be reached; the server will hand it out again`,
          );
        else log(`${b.held.label}: the server did not take the outcome: ${reason(error)}`);
        release(b.held);
      }
      return;
    } finally {
      ends.dispose();
    }
    const invalid: Pending[] = [];
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
      } else if (answer?.refusal === 'CANCELLED') {
        // Cancelled while it ran, or another copy counted: nothing went wrong, and nothing is left to do.
        summary.lost++;
        log(`${b.held.label}: cancelled before its outcome arrived (${answer.message}); nothing to post`);
      } else {
        summary.lost++;
        log(`${b.held.label}: the server did not take the outcome: ${answer?.message ?? 'no answer'}`);
      }
      release(b.held);
    });
    if (invalid.length > 0) {
      await client.work.results
        .mutate({
          results: invalid.map((b) => ({ subtask_id: b.held.subtask.subtask_id, lease_id: b.held.subtask.lease_id, ...b.outcome })),
        })
        .catch((e) => log(`${what}: ${reason(e)}`));
      for (const b of invalid) release(b.held);
    }
  }
}

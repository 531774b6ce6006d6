/** The raw loops' driver: `loops` loops claim and complete until their queue is empty or the time is up. */
import { createHash } from 'node:crypto';

/** A claimed subtask as a raw loop holds it until it completes it. */
export interface Held {
  id: string;
  leaseId: string;
  executionId: string;
  /** Its payload's JSON text: the loop's result echoes it. */
  payload: string;
}

/** The result a raw loop posts for a subtask, and its key (SHA-256 of the JSON, as the server keys results). */
export function resultOf(held: Held): { result: string; resultKey: string } {
  return { result: held.payload, resultKey: createHash('sha256').update(held.payload).digest('hex') };
}

export interface Drained {
  /** Each claim + complete's time (ms), one per iteration that found work. */
  latencies: number[];
  /** Subtasks claimed and completed. */
  subtasks: number;
  /** Seconds until the last loop stopped. */
  seconds: number;
  /** Subtasks a claim returned that an earlier claim had returned too. */
  claimedTwice: number;
  /** Subtasks claimed whose completion did not take (a lost result). */
  notCompleted: number;
  /** Iterations that threw, and the first messages. */
  failures: number;
  messages: string[];
}

/**
 * Runs `loops` loops for up to `seconds`: each claims with `claim(loop)` and completes what it got with
 * `complete(loop, held)` (which answers how many it completed); a loop stops when its claim finds nothing.
 */
export async function drain(
  loops: number,
  seconds: number,
  claim: (loop: number) => Promise<Held[]>,
  complete: (loop: number, held: Held[]) => Promise<number>,
): Promise<Drained> {
  const seen = new Set<string>();
  const out: Drained = { latencies: [], subtasks: 0, seconds: 0, claimedTwice: 0, notCompleted: 0, failures: 0, messages: [] };
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: loops }, async (_, loop) => {
      while (performance.now() < until) {
        const t = performance.now();
        try {
          const held = await claim(loop);
          if (held.length === 0) return;
          for (const h of held) {
            if (seen.has(h.id)) out.claimedTwice++;
            seen.add(h.id);
          }
          const completed = await complete(loop, held);
          out.latencies.push(performance.now() - t);
          out.subtasks += completed;
          out.notCompleted += held.length - completed;
        } catch (error) {
          out.failures++;
          if (out.messages.length < 3) out.messages.push((error as Error).message);
        }
      }
    }),
  );
  out.seconds = (performance.now() - t0) / 1000;
  return out;
}

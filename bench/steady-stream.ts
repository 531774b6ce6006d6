/**
 * A neighbour's steady stream (the `neighbours` scenario's owner B, through the server or against the database
 * alone): `rate` submissions a second, each timed to its answer and to its work starting.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface Stream {
  /** Each submission's time to its answer (ms). */
  request: number[];
  /** Each submission's time from being sent to its work starting (ms). */
  dispatch: number[];
  /** Submissions that failed, and work not started within 10 s. */
  errors: number;
}

/**
 * Submits `rate` a second for `seconds`: `submit(id)` with ids from `nextId`; `started` is where the worker notes
 * when each id's work started (performance.now()). `submitted` runs after each answer (a long poll's wake).
 */
export async function steadyStream(
  seconds: number,
  rate: number,
  {
    nextId,
    submit,
    started,
    submitted = () => {},
  }: {
    nextId: () => number;
    submit: (id: number) => Promise<unknown>;
    started: ReadonlyMap<number, number>;
    submitted?: () => void;
  },
): Promise<Stream> {
  const out: Stream = { request: [], dispatch: [], errors: 0 };
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < seconds * rate; i++) {
    const due = t0 + (i * 1000) / rate;
    if (due > performance.now()) await sleep(due - performance.now());
    const id = nextId();
    pending.push(
      (async () => {
        const sent = performance.now();
        try {
          await submit(id);
        } catch {
          out.errors++;
          return;
        }
        out.request.push(performance.now() - sent);
        submitted();
        const deadline = performance.now() + 10_000;
        while (!started.has(id) && performance.now() < deadline) await sleep(1);
        const at = started.get(id);
        if (at === undefined) out.errors++;
        else out.dispatch.push(at - sent);
      })(),
    );
  }
  await Promise.all(pending);
  return out;
}

/**
 * The periodic pass over everything that moves on by time alone. Each pass
 * is a function handed in at start-up (server.ts: heartbeat flush, member
 * failures, expired leases and unclaimed assignments, task deadlines, and
 * executions whose last result's follow-up was lost), run in order, all
 * with one `now` from the server's clock (the database's on PostgreSQL, so
 * every instance judges leases and deadlines by the same time). Each pass
 * tells live views itself what moved, and whose it was.
 *
 * While the database is down or read-only, sweeps wait for it instead of
 * failing every interval: the outage is logged once (db/availability.ts),
 * not once per sweep, and the first sweep after it catches up on everything
 * that ran out meanwhile.
 */
import type { Clock } from '../clock.ts';
import type { Availability } from '../db/availability.ts';
import { databaseFault } from '../db/faults.ts';

/** One kind of sweep: returns how many things it moved, by name. */
export type SweepPass = (now: Date) => Promise<Record<string, number> | undefined>;

export async function sweep(passes: SweepPass[], now = new Date()): Promise<Record<string, number>> {
  const moved: Record<string, number> = {};
  for (const pass of passes) Object.assign(moved, await pass(now));
  return moved;
}

export interface SweeperDeps {
  clock: Clock;
  availability: Availability;
  log: { error(obj: unknown, msg: string): void };
}

/** Runs a sweep every `intervalMs` until stopped; a pass still running skips the tick, a failing pass is logged. */
export function startSweeper(passes: SweepPass[], { clock, availability, log }: SweeperDeps, intervalMs: number): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped || running || availability.state !== 'up') return;
    running = sweep(passes, clock.now())
      .catch((err: unknown) => {
        // The database's fault: the next tick tries again, once it is back.
        if (!databaseFault(err)) log.error({ err }, 'sweep failed');
      })
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

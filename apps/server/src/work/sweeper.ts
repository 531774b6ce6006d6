import type { Database } from '../db/database.ts';
import { expireCoordinations } from '../swarms/coordinations.ts';
import { detectMemberFailures } from '../swarms/membership.ts';
import { sweepLeases } from './leases.ts';

/** One pass of everything that moves on by time alone: failed members, expired leases, task deadlines. */
export async function sweep(db: Database, now = new Date()) {
  const members = await detectMemberFailures(db, now);
  const leases = await sweepLeases(db, now);
  const tasks = await expireCoordinations(db, now);
  return { ...members, ...leases, ...tasks };
}

/** Runs a sweep every `intervalMs` until stopped; a pass still running skips the tick, a failing pass is logged. */
export function startSweeper(db: Database, intervalMs: number, log: { error(obj: unknown, msg: string): void }): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped || running) return;
    running = sweep(db)
      .catch((err) => log.error({ err }, 'sweep failed'))
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

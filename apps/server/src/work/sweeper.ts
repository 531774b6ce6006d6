import type { Database } from '../db/database.ts';
import type { EventBus } from '../events.ts';
import { expireCoordinations } from '../swarms/coordinations.ts';
import type { HeartbeatBuffer } from '../swarms/heartbeats.ts';
import { detectMemberFailures } from '../swarms/membership.ts';
import { sweepLeases } from './leases.ts';

/** One pass of everything that moves on by time alone: failed members, expired leases, task deadlines. */
export async function sweep(db: Database, heartbeats: HeartbeatBuffer, now = new Date()) {
  // Heartbeats this instance holds count before anyone is judged silent.
  await heartbeats.flush();
  const members = await detectMemberFailures(db, now);
  const leases = await sweepLeases(db, now);
  const tasks = await expireCoordinations(db, now);
  return { ...members, ...leases, ...tasks };
}

/** Runs a sweep every `intervalMs` until stopped; a pass still running skips the tick, a failing pass is logged. */
export function startSweeper(
  db: Database,
  heartbeats: HeartbeatBuffer,
  events: EventBus,
  intervalMs: number,
  log: { error(obj: unknown, msg: string): void },
): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped || running) return;
    running = sweep(db, heartbeats)
      .then((moved) => {
        // Someone's work moved: live views refresh (who, the sweep does not track).
        if (Object.values(moved).some((n) => n > 0)) events.publish({ kind: 'work.changed', owner_id: null });
      })
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

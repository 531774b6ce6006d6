/**
 * The periodic pass over everything that moves on by time alone. Each pass
 * is a function handed in at start-up (server.ts: heartbeat flush, member
 * failures, expired leases and unclaimed assignments, task deadlines, and
 * executions whose last result's follow-up was lost), run in order. Each
 * pass tells live views itself what moved, and whose it was.
 */
/** One kind of sweep: returns how many things it moved, by name. */
export type SweepPass = (now: Date) => Promise<Record<string, number> | undefined>;

export async function sweep(passes: SweepPass[], now = new Date()): Promise<Record<string, number>> {
  const moved: Record<string, number> = {};
  for (const pass of passes) Object.assign(moved, await pass(now));
  return moved;
}

/** Runs a sweep every `intervalMs` until stopped; a pass still running skips the tick, a failing pass is logged. */
export function startSweeper(
  passes: SweepPass[],
  intervalMs: number,
  log: { error(obj: unknown, msg: string): void },
): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped || running) return;
    running = sweep(passes)
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

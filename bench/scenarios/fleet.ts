/**
 * A fleet of busy workers in a process of its own (the `neighbours` scenario's owner A): as on separate hosts, its
 * hundreds of worker slots do not share an event loop with the agent the scenario measures.
 *
 * Started by `startFleet` with the fleet's settings as its argument (JSON). It runs a createWorker per agent, and
 * reports over IPC when a handler first sees a payload marked `high` (as wall-clock milliseconds, comparable across
 * processes), and, when told to stop, how many subtasks it completed and its own event-loop delay.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createWorker } from '../../packages/client/src/index.ts';

interface FleetSettings {
  base: string;
  key: string;
  agents: string[];
  concurrency: number;
}

type FromFleet =
  | { type: 'ready' }
  | { type: 'high'; i: number; at: number }
  | { type: 'done'; completed: number; lagP50: number; lagP99: number };

const FLEET_FLAG = '--aitbc-fleet';

/** Wall-clock milliseconds with sub-millisecond precision: comparable between processes on one machine. */
export const wallMs = () => performance.timeOrigin + performance.now();

export interface Fleet {
  readonly pid: number;
  /** Called with each `high` payload's `i` and when its handler started (wallMs). */
  onHigh(fn: (i: number, at: number) => void): void;
  /** Stops the workers (what runs finishes) and ends the process: subtasks completed, its event-loop delay. */
  stop(): Promise<{ completed: number; lagP50: number; lagP99: number }>;
}

export async function startFleet(settings: FleetSettings): Promise<Fleet> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [FLEET_FLAG, JSON.stringify(settings)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let high: (i: number, at: number) => void = () => {};
  let done: ((d: { completed: number; lagP50: number; lagP99: number }) => void) | null = null;
  const exited = once(child, 'exit');
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (m: FromFleet) => {
      if (m.type === 'ready') resolve();
      else if (m.type === 'high') high(m.i, m.at);
      else done?.(m);
    });
    void exited.then(([code]) => reject(new Error(`the fleet process exited (${code}) before it was ready`)));
  });
  await ready;
  return {
    pid: child.pid!,
    onHigh: (fn) => {
      high = fn;
    },
    async stop() {
      const result = new Promise<{ completed: number; lagP50: number; lagP99: number }>((resolve) => {
        done = resolve;
      });
      child.send('stop');
      const d = await result;
      await exited;
      return d;
    },
  };
}

async function runFleet(settings: FleetSettings): Promise<void> {
  const send = (m: FromFleet) => process.send!(m);
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const workers = settings.agents.map((agent) =>
    createWorker({
      url: settings.base,
      apiKey: settings.key,
      agent,
      concurrency: settings.concurrency,
      waitSeconds: 1,
      handler: (payload) => {
        const p = payload as { high?: boolean; i?: number };
        if (p.high) send({ type: 'high', i: p.i ?? 0, at: wallMs() });
        return payload;
      },
    }),
  );
  const running = workers.map((w) => w.run());
  // The bench ended without stopping it (it failed, or was interrupted): no orphan keeps working.
  process.once('disconnect', () => process.exit(0));
  process.once('message', () => {
    for (const w of workers) w.stop();
  });
  send({ type: 'ready' });
  await Promise.all(running);
  lag.disable();
  const completed = workers.reduce((sum, w) => sum + w.summary.completed, 0);
  send({ type: 'done', completed, lagP50: lag.percentile(50) / 1e6, lagP99: lag.percentile(99) / 1e6 });
  process.removeAllListeners('disconnect');
  process.disconnect();
}

if (process.argv[2] === FLEET_FLAG && process.send) await runFleet(JSON.parse(process.argv[3]!) as FleetSettings);

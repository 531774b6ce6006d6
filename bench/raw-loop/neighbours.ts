/**
 * The `neighbours` question asked of PostgreSQL alone, in the same run: no server, no HTTP, no ORM. What one
 * owner's flood does to another's latency on this database and this machine, before any server adds its own.
 *
 *   - Owner A: the raw loop (postgres.ts) with 64 loops claiming and completing batches of 4, as A's 64 workers of
 *     4 slots, in a process of its own (as A's fleet is).
 *   - Owner B, in the bench process: RATE executions a second of one subtask each, each submitted in one statement
 *     (the execution and its subtask), and one worker that, woken as each submit returns (as a long poll is), claims
 *     B's subtasks one at a time with the raw loop's statements, completing each on another connection while it
 *     claims the next (as createWorker posts results). A pool of 3: submits, claims, completions.
 *
 * Timed: B's submit, and from it being sent to B's claim returning its subtask (dispatch); with A idle, then busy.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { json, PostgresSql, sql } from '../../apps/server/src/db/sql.ts';
import { subtaskInserts } from '../../apps/server/src/work/sql/insert.ts';
import { type Stream, steadyStream } from '../steady-stream.ts';
import { claimText, completion, postgresRawLoop, stamp } from './postgres.ts';
import { OWNER, queuedSubtask, seedQueue } from './queue.ts';

const FLOOD_FLAG = '--aitbc-raw-flood';

interface FloodSettings {
  url: string;
  loops: number;
  batch: number;
  seconds: number;
  subtasks: number;
}

export interface RawNeighbours {
  idle: Stream;
  busy: Stream;
  /** Subtasks A's loops completed while B's busy stream ran. */
  floodCompleted: number;
  floodSeconds: number;
  /** B's completions that failed (none expected). */
  completeFailures: number;
}

/** A's flood in a process of its own: seeded, then (told to go) drained for `seconds`. */
async function startFlood(settings: FloodSettings): Promise<{ go(): void; done: Promise<{ subtasks: number; seconds: number }> }> {
  const child = fork(fileURLToPath(import.meta.url), [FLOOD_FLAG, JSON.stringify(settings)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  let finished: (d: { subtasks: number; seconds: number }) => void = () => {};
  const done = new Promise<{ subtasks: number; seconds: number }>((resolve, reject) => {
    finished = resolve;
    void exited.then(([code]) => reject(new Error(`the raw flood exited (${code}) before it finished`)));
  });
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m: { type: 'ready' } | { type: 'done'; subtasks: number; seconds: number }) => {
      if (m.type === 'ready') resolve();
      else finished(m);
    });
    void exited.then(([code]) => reject(new Error(`the raw flood exited (${code}) before it was ready`)));
  });
  done.catch(() => undefined);
  return { go: () => child.send('go'), done };
}

export async function rawNeighbours(
  url: string,
  { seconds, rate, flood }: { seconds: number; rate: number; flood: number },
): Promise<RawNeighbours> {
  const pool = new pg.Pool({ connectionString: url, max: 3, application_name: 'aitbc-bench-raw-neighbours' });
  pool.on('error', () => undefined);
  const db = new PostgresSql(pool);
  const { assignees, networkId } = await seedQueue(db, 1, 0);
  const agent = assignees[0]!;
  const claimed = new Map<number, number>();
  let stopped = false;
  let signalled = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    signalled = true;
    wake?.();
  };
  const claim = { name: 'raw_neighbours_claim', text: claimText(1) };
  const completing: Promise<unknown>[] = [];
  let completeFailures = 0;

  /** B's worker: claims and completes one at a time until nothing waits, then sleeps until a submit wakes it. */
  async function worker(): Promise<void> {
    while (!stopped) {
      if (!signalled) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      signalled = false;
      for (;;) {
        const { rows } = await pool.query<{ id: string; lease_id: string; execution_id: string; payload: string }>({
          ...claim,
          values: [agent, OWNER, stamp(new Date())],
        });
        if (rows.length === 0) break;
        const at = performance.now();
        for (const r of rows) claimed.set((JSON.parse(r.payload) as { n: number }).n, at);
        const held = rows.map((r) => ({ id: r.id, leaseId: r.lease_id, executionId: r.execution_id, payload: r.payload }));
        // Completed on a connection of its own while the next claim goes out, as createWorker posts its results.
        completing.push(pool.query(completion('raw_neighbours_complete', held)).catch(() => void completeFailures++));
      }
    }
  }

  /** One execution of one subtask, in one statement. */
  async function submit(n: number): Promise<void> {
    const now = new Date();
    const executionId = randomUUID();
    const [insert] = subtaskInserts([queuedSubtask({ networkId, executionId, seq: 0, payload: { n }, assigneeId: agent }, now)], now);
    await db.run(sql`
      WITH "created" AS (
        INSERT INTO "agent_network_executions" ("id", "network_id", "owner_id", "task", "priority", "status", "subtask_count", "created_at", "updated_at")
        VALUES (${executionId}, ${networkId}, ${OWNER}, ${json({ n })}, 'normal', 'queued', 1, ${now}, ${now}))
      ${insert!}`);
  }

  let n = 0;
  const stream = (secs: number): Promise<Stream> =>
    steadyStream(secs, rate, { nextId: () => n++, submit, started: claimed, submitted: notify });

  const working = worker();
  try {
    const idle = await stream(seconds);
    const a = await startFlood({ url, loops: 64, batch: 4, seconds: seconds + 1, subtasks: flood });
    a.go();
    await sleep(500);
    const busy = await stream(seconds);
    const flooded = await a.done;
    await Promise.all(completing);
    return { idle, busy, floodCompleted: flooded.subtasks, floodSeconds: flooded.seconds, completeFailures };
  } finally {
    stopped = true;
    notify();
    await working.catch(() => undefined);
    await Promise.allSettled(completing);
    await pool.end();
  }
}

async function runFlood(settings: FloodSettings): Promise<void> {
  const { url, ...sizes } = settings;
  const run = await postgresRawLoop(url, sizes, async (drain) => {
    process.send!({ type: 'ready' });
    await once(process, 'message');
    return drain();
  });
  process.send!({ type: 'done', subtasks: run.subtasks, seconds: run.seconds });
  process.removeAllListeners('disconnect');
  process.disconnect();
}

if (process.argv[2] === FLOOD_FLAG && process.send) {
  process.once('disconnect', () => process.exit(0));
  await runFlood(JSON.parse(process.argv[3]!) as FloodSettings);
}

/**
 * The `neighbours` bench scenario (issue 26): what one owner's flood does to another on a shared server.
 *
 *   - Owner B: one agent with an idle createWorker (concurrency 1, long-polling), and a steady stream of
 *     executions of one subtask each, RATE a second. Measured: the execute request's latency, and dispatch (the
 *     execute sent → B's handler started).
 *   - Owner A: FLOOD subtasks queued on 64 agents, each with a busy createWorker (concurrency 4, handlers that return
 *     at once), draining as fast as the server lets them.
 *
 * B's stream runs first with A idle, then with A busy, side by side in one run: the ratio of B's p99s is the
 * figure (the target: ≤ 2×). Then, within A, a `high` priority execution submitted behind A's `normal` flood,
 * timed from its execute to its handler starting (the target: ≤ 50 ms).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createWorker, type Worker } from '../../packages/client/src/index.ts';
import { type Call, call } from '../api.ts';
import { peakRss } from '../processes.ts';
import type { Row } from '../row.ts';
import type { Scenario } from '../scenario.ts';

export interface NeighboursOptions {
  base: string;
  adminKey: string;
  quick: boolean;
  call: Call;
  peakRss: () => number;
}

const A_AGENTS = 64;
const A_CONCURRENCY = 4;
/** B's executions a second. */
const RATE = 20;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const round = (n: number) => Math.round(n * 100) / 100;

interface Stream {
  request: number[];
  dispatch: number[];
  errors: number;
}

export async function neighbours({ base, adminKey, quick, call, peakRss }: NeighboursOptions): Promise<{ rows: Row[]; notes: string[] }> {
  const flood = quick ? 5_000 : 100_000;
  const seconds = quick ? 3 : 15;
  const keyFor = async (owner: string) => (await call<{ key: string }>(base, adminKey, 'POST', '/api/v1/keys', { owner_id: owner })).key;
  const [aKey, bKey] = [await keyFor('neighbour-a'), await keyFor('neighbour-b')];

  // B: one agent, one idle worker that notes when each execution's handler starts.
  const bAgent = await call<{ id: string }>(base, bKey, 'POST', '/api/v1/agents', { name: 'b-1' });
  const bNetwork = await call<{ id: string }>(base, bKey, 'POST', '/api/v1/agents/networks', { name: 'b', agents: [bAgent.id] });
  const started = new Map<number, number>();
  const bWorker = createWorker({
    url: base,
    apiKey: bKey,
    agent: bAgent.id,
    waitSeconds: 30,
    handler: (payload) => void started.set((payload as { n: number }).n, performance.now()),
  });
  const bRunning = bWorker.run();
  await sleep(300);

  let n = 0;
  /** B submits RATE executions a second for `secs`; each is timed to its 202 and to its handler starting. */
  async function bStream(secs: number): Promise<Stream> {
    const out: Stream = { request: [], dispatch: [], errors: 0 };
    const pending: Promise<void>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < secs * RATE; i++) {
      const due = t0 + (i * 1000) / RATE;
      if (due > performance.now()) await sleep(due - performance.now());
      const id = n++;
      pending.push(
        (async () => {
          const sent = performance.now();
          try {
            await call(base, bKey, 'POST', `/api/v1/agents/networks/${bNetwork.id}/execute`, { task: { n: id } });
          } catch {
            out.errors++;
            return;
          }
          out.request.push(performance.now() - sent);
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

  const idle = await bStream(seconds);

  // A: the flood, and its busy workers.
  const aAgents = await Promise.all(
    Array.from({ length: A_AGENTS }, (_, i) => call<{ id: string }>(base, aKey, 'POST', '/api/v1/agents', { name: `a-${i}` })),
  );
  const aNetwork = await call<{ id: string }>(base, aKey, 'POST', '/api/v1/agents/networks', {
    name: 'a',
    agents: aAgents.map((a) => a.id),
    claim_timeout_seconds: 3600,
  });
  const floodExecutions: string[] = [];
  for (let done = 0; done < flood; done += 1000) {
    const e = await call<{ id: string }>(base, aKey, 'POST', `/api/v1/agents/networks/${aNetwork.id}/execute`, {
      task: { subtasks: Array.from({ length: 1000 }, (_, i) => done + i) },
    });
    floodExecutions.push(e.id);
  }
  let highAt: number | null = null;
  const aWorkers: Worker[] = aAgents.map((a) =>
    createWorker({
      url: base,
      apiKey: aKey,
      agent: a.id,
      concurrency: A_CONCURRENCY,
      waitSeconds: 1,
      handler: (payload) => {
        if ((payload as { high?: boolean }).high && highAt === null) highAt = performance.now();
        return payload;
      },
    }),
  );
  const aRunning = aWorkers.map((w) => w.run());
  await sleep(1000);
  const busy = await bStream(seconds);

  // Within A: a high-priority execution behind the normal flood, a few times.
  const highs: number[] = [];
  // Where the time goes: the execute's own answer, and from it to the handler (a claim's turn and the claim).
  const answers: number[] = [];
  // The bench process runs A's 256 worker slots too: a handler starts only when its own event loop gets to it.
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  for (let i = 0; i < (quick ? 3 : 10); i++) {
    highAt = null;
    const sent = performance.now();
    await call(base, aKey, 'POST', `/api/v1/agents/networks/${aNetwork.id}/execute`, { task: { high: true, i }, priority: 'high' });
    answers.push(performance.now() - sent);
    const deadline = performance.now() + 10_000;
    while (highAt === null && performance.now() < deadline) await sleep(1);
    highs.push(highAt === null ? Number.NaN : (highAt as number) - sent);
    await sleep(200);
  }
  lag.disable();
  const aDone = aWorkers.reduce((sum, w) => sum + w.summary.completed, 0);
  for (const w of aWorkers) w.stop();
  bWorker.stop();
  for (const id of floodExecutions)
    await call(base, aKey, 'POST', `/api/v1/agents/networks/${aNetwork.id}/executions/${id}/cancel`, undefined, [200, 409]);
  await Promise.all([...aRunning, bRunning]);

  const rows: Row[] = [];
  const notes: string[] = [];
  const p = (xs: number[], q: number) =>
    round(
      percentile(
        [...xs].sort((a, b) => a - b),
        q,
      ),
    );
  for (const [when, s] of [
    ['A idle', idle],
    ['A busy', busy],
  ] as const) {
    rows.push({
      scenario: `neighbours: B's dispatch (execute → handler), ${when}`,
      unit: 'dispatches',
      count: s.dispatch.length,
      rate: RATE,
      p50: p(s.dispatch, 50),
      p95: p(s.dispatch, 95),
      p99: p(s.dispatch, 99),
      errors: s.errors,
      peakRssMiB: peakRss(),
    });
    rows.push({
      scenario: `neighbours: B's execute request, ${when}`,
      unit: 'req',
      count: s.request.length,
      rate: RATE,
      p50: p(s.request, 50),
      p95: p(s.request, 95),
      p99: p(s.request, 99),
      errors: 0,
      peakRssMiB: peakRss(),
    });
  }
  const missed = highs.filter((h) => Number.isNaN(h)).length;
  const high = highs.filter((h) => !Number.isNaN(h));
  rows.push({
    scenario: `priority: a high execution behind A's ${flood.toLocaleString('en')} normal subtasks, execute → handler`,
    unit: 'starts',
    count: high.length,
    rate: 0,
    p50: p(high, 50),
    p95: p(high, 95),
    p99: p(high, 99),
    errors: missed,
    peakRssMiB: peakRss(),
  });
  notes.push(
    `neighbours: B's dispatch p99 ${p(busy.dispatch, 99)} ms with A busy, ${p(idle.dispatch, 99)} ms with A idle (${(p(busy.dispatch, 99) / Math.max(0.01, p(idle.dispatch, 99))).toFixed(2)}×); ` +
      `B's request p99 ${p(busy.request, 99)} ms against ${p(idle.request, 99)} ms (${(p(busy.request, 99) / Math.max(0.01, p(idle.request, 99))).toFixed(2)}×); ` +
      `A completed ${aDone} subtasks meanwhile (${A_AGENTS} workers × ${A_CONCURRENCY})`,
  );
  notes.push(
    `priority: the high execute answered in ${p(answers, 50)} ms p50 (max ${p(answers, 100)}); ` +
      `its handler started ${p(high, 50)} ms p50 after it was sent; the bench process's own event-loop delay meanwhile ` +
      `p50 ${round(lag.percentile(50) / 1e6)} ms, p99 ${round(lag.percentile(99) / 1e6)} ms`,
  );
  return { rows, notes };
}

export const neighboursScenario: Scenario = {
  name: 'neighbours',
  async run(ctx) {
    const result = await neighbours({
      base: ctx.base,
      adminKey: ctx.adminKey,
      quick: ctx.settings.quick,
      call,
      peakRss: () => peakRss(ctx.servers),
    });
    ctx.rows.push(...result.rows);
    ctx.notes.push(...result.notes);
  },
};

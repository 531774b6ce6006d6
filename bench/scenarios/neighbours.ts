/**
 * The `neighbours` bench scenario (issue 26): what one owner's flood does to another on a shared server.
 *
 *   - Owner B: one agent with an idle createWorker (concurrency 1, long-polling), and a steady stream of
 *     executions of one subtask each, RATE a second. Measured: the execute request's latency, and dispatch (the
 *     execute sent → B's handler started).
 *   - Owner A: FLOOD subtasks queued on 64 agents, each with a busy createWorker (concurrency 4, handlers that return
 *     at once), draining as fast as the server lets them. A's workers run in a process of their own (fleet.ts), as
 *     on other hosts: B's worker and stream do not wait for A's 256 slots on one event loop.
 *
 * B's stream runs first with A idle, then with A busy, side by side in one run: the ratio of B's p99s is the
 * figure (the target: ≤ 2×). Then, within A, a `high` priority execution submitted behind A's `normal` flood,
 * timed from its execute to its handler starting (the target: ≤ 50 ms).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, createWorker } from '../../packages/client/src/index.ts';
import { type Call, call } from '../api.ts';
import { cpuSeconds, peakRss } from '../processes.ts';
import type { Row } from '../row.ts';
import { percentile, round } from '../stats.ts';
import { type Stream, steadyStream } from '../steady-stream.ts';
import { migrateDatabase } from '../../apps/server/src/db/migrate.ts';
import { createScratchDatabase } from '../../apps/server/src/db/scratch-database.ts';
import { rawNeighbours } from '../raw-loop/neighbours.ts';
import type { BenchContext, Scenario } from '../scenario.ts';
import { startFleet, wallMs } from './fleet.ts';

export interface NeighboursOptions {
  base: string;
  adminKey: string;
  quick: boolean;
  call: Call;
  peakRss: () => number;
  /** The server's process id (its CPU time is read from /proc). */
  serverPid: number;
}

const A_AGENTS = 64;
const A_CONCURRENCY = 4;
/** B's executions a second. */
const RATE = 20;

/** The `q`th percentile of `xs` (ms), to two decimals. */
const p = (xs: number[], q: number) =>
  round(
    percentile(
      [...xs].sort((a, b) => a - b),
      q,
    ),
  );
/** How many times the idle p99 the busy one is. */
const ratio = (busy: number[], idle: number[]) => (p(busy, 99) / Math.max(0.01, p(idle, 99))).toFixed(2);

/** The server's event-loop delay and SQLite gate wait histograms (cumulative bucket counts by `le`), from /metrics. */
async function serverHistograms(base: string, adminKey: string): Promise<Record<string, Map<string, number>>> {
  const text = await (await fetch(`${base}/metrics`, { headers: { 'x-api-key': adminKey } })).text();
  const out: Record<string, Map<string, number>> = {};
  for (const name of ['aitbc_event_loop_delay_seconds', 'aitbc_db_gate_wait_seconds']) {
    const buckets = new Map<string, number>();
    for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, 'gm'))) buckets.set(m[1]!, Number(m[2]));
    out[name] = buckets;
  }
  // The execute route's time inside the server (handler start to answer), summed over its statuses: while B's stream
  // runs, only B executes.
  const executes = new Map<string, number>();
  for (const m of text.matchAll(/^aitbc_http_request_duration_seconds_bucket\{(.*)\} (\d+)$/gm)) {
    if (!/route="[^"]*\/execute"/.test(m[1]!)) continue;
    const le = /le="([^"]+)"/.exec(m[1]!)![1]!;
    executes.set(le, (executes.get(le) ?? 0) + Number(m[2]));
  }
  out.execute = executes;
  return out;
}

/** From two scrapes: the share of samples past each bound, e.g. "> 5 ms 40%, > 20 ms 10%". */
function pastBounds(before: Map<string, number>, after: Map<string, number>): string {
  const total = (after.get('+Inf') ?? 0) - (before.get('+Inf') ?? 0);
  if (total <= 0) return 'no samples';
  return [...after.keys()]
    .filter((le) => le !== '+Inf')
    .map((le) => `> ${Number(le) * 1000} ms ${Math.round((100 * (total - (after.get(le)! - (before.get(le) ?? 0)))) / total)}%`)
    .join(', ');
}

export async function neighbours({
  base,
  adminKey,
  quick,
  call,
  peakRss,
  serverPid,
}: NeighboursOptions): Promise<{ rows: Row[]; notes: string[] }> {
  const flood = quick ? 5_000 : 100_000;
  const seconds = quick ? 3 : 15;
  const keyFor = async (owner: string) => (await call<{ key: string }>(base, adminKey, 'POST', '/api/v1/keys', { owner_id: owner })).key;
  const [aKey, bKey] = [await keyFor('neighbour-a'), await keyFor('neighbour-b')];

  // B: one agent, one idle worker that notes when each execution's handler starts.
  const bAgent = await call<{ id: string }>(base, bKey, 'POST', '/api/v1/agents', { name: 'b-1' });
  const bNetwork = await call<{ id: string }>(base, bKey, 'POST', '/api/v1/agents/networks', { name: 'b', agents: [bAgent.id] });
  const started = new Map<number, number>();
  // B's worker's own requests, timed by kind (its claims that brought work, its results), while `timing` is on.
  const bCalls = { timing: false, claims: [] as number[], results: [] as number[] };
  const timedFetch: typeof fetch = async (input, init) => {
    const sent = performance.now();
    const response = await fetch(input, init);
    if (!bCalls.timing) return response;
    const url = String(input instanceof Request ? input.url : input);
    const body = await response.clone().text();
    if (url.includes('work.claims') && body.includes('"lease_id"')) bCalls.claims.push(performance.now() - sent);
    else if (url.includes('work.results')) bCalls.results.push(performance.now() - sent);
    return response;
  };
  const bWorker = createWorker({
    client: createClient({ url: base, apiKey: bKey, fetch: timedFetch }),
    agent: bAgent.id,
    waitSeconds: 30,
    handler: (payload) => void started.set((payload as { n: number }).n, performance.now()),
  });
  const bRunning = bWorker.run();
  await sleep(300);

  let n = 0;
  /** B submits RATE executions a second for `secs`; each is timed to its 202 and to its handler starting. */
  const bStream = (secs: number): Promise<Stream> =>
    steadyStream(secs, RATE, {
      nextId: () => n++,
      submit: (id) => call(base, bKey, 'POST', `/api/v1/agents/networks/${bNetwork.id}/execute`, { task: { n: id } }),
      started,
    });

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
  const fleet = await startFleet({ base, key: aKey, agents: aAgents.map((a) => a.id), concurrency: A_CONCURRENCY });
  const highAt = new Map<number, number>();
  fleet.onHigh((i, at) => void (highAt.has(i) || highAt.set(i, at)));
  await sleep(1000);
  const loop0 = await serverHistograms(base, adminKey);
  const cpu0 = { server: cpuSeconds(serverPid), fleet: cpuSeconds(fleet.pid), at: performance.now() };
  bCalls.timing = true;
  const busy = await bStream(seconds);
  bCalls.timing = false;
  const cpuShare = (pid: number, from: number) =>
    `${Math.round((100 * (cpuSeconds(pid) - from)) / ((performance.now() - cpu0.at) / 1000))}%`;
  const cpu = { server: cpuShare(serverPid, cpu0.server), fleet: cpuShare(fleet.pid, cpu0.fleet) };
  const loop1 = await serverHistograms(base, adminKey);

  // Within A: a high-priority execution behind the normal flood, a few times.
  const highs: number[] = [];
  // Where the time goes: the execute's own answer, and from it to the handler (a claim's turn and the claim).
  const answers: number[] = [];
  // The bench process's own event loop (B's side, and these timings).
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  for (let i = 0; i < (quick ? 3 : 10); i++) {
    const sent = wallMs();
    await call(base, aKey, 'POST', `/api/v1/agents/networks/${aNetwork.id}/execute`, { task: { high: true, i }, priority: 'high' });
    answers.push(wallMs() - sent);
    const deadline = performance.now() + 10_000;
    while (!highAt.has(i) && performance.now() < deadline) await sleep(1);
    const at = highAt.get(i);
    highs.push(at === undefined ? Number.NaN : at - sent);
    await sleep(200);
  }
  lag.disable();
  bWorker.stop();
  const aSide = await fleet.stop();
  const aDone = aSide.completed;
  for (const id of floodExecutions)
    await call(base, aKey, 'POST', `/api/v1/agents/networks/${aNetwork.id}/executions/${id}/cancel`, undefined, [200, 409]);
  await bRunning;

  const rows: Row[] = [];
  const notes: string[] = [];
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
    `neighbours: B's dispatch p99 ${p(busy.dispatch, 99)} ms with A busy, ${p(idle.dispatch, 99)} ms with A idle (${ratio(busy.dispatch, idle.dispatch)}×); ` +
      `B's request p99 ${p(busy.request, 99)} ms against ${p(idle.request, 99)} ms (${ratio(busy.request, idle.request)}×); ` +
      `A completed ${aDone} subtasks meanwhile (${A_AGENTS} workers × ${A_CONCURRENCY})`,
  );
  notes.push(
    `neighbours, A busy: CPU of one core, the server ${cpu.server}, A's fleet process ${cpu.fleet}; the server's event loop late (10 ms timer samples) ${pastBounds(loop0.aitbc_event_loop_delay_seconds!, loop1.aitbc_event_loop_delay_seconds!)}; ` +
      `its units' wait for the SQLite gate ${pastBounds(loop0.aitbc_db_gate_wait_seconds!, loop1.aitbc_db_gate_wait_seconds!)}; ` +
      `B's executes inside the server (its route's histogram) ${pastBounds(loop0.execute!, loop1.execute!)}; ` +
      `B's worker's claims that brought work p50 ${p(bCalls.claims, 50)} ms, p99 ${p(bCalls.claims, 99)} (${bCalls.claims.length}), ` +
      `its results p50 ${p(bCalls.results, 50)} ms, p99 ${p(bCalls.results, 99)} (${bCalls.results.length})`,
  );
  notes.push(
    `priority: the high execute answered in ${p(answers, 50)} ms p50 (max ${p(answers, 100)}); ` +
      `its handler started ${p(high, 50)} ms p50 after it was sent; event-loop delay meanwhile: the bench process's ` +
      `p50 ${round(lag.percentile(50) / 1e6)} ms, p99 ${round(lag.percentile(99) / 1e6)} ms; A's fleet process's (all its run) ` +
      `p50 ${round(aSide.lagP50)} ms, p99 ${round(aSide.lagP99)} ms`,
  );
  return { rows, notes };
}

/** The same question asked of PostgreSQL alone (raw-loop/neighbours.ts), on a scratch database of the same schema. */
async function rawBaseline(ctx: BenchContext): Promise<void> {
  const postgres = ctx.postgres!;
  const quick = ctx.settings.quick;
  const scratch = await createScratchDatabase(postgres.clusterUrl, 'aitbc_bench_neighbours');
  try {
    await migrateDatabase({ provider: 'postgresql', url: scratch.url });
    const r = await rawNeighbours(scratch.url, { seconds: quick ? 3 : 15, rate: RATE, flood: quick ? 5_000 : 100_000 });
    for (const [when, s] of [
      ['A idle', r.idle],
      ['A busy', r.busy],
    ] as const) {
      for (const [what, xs, errors] of [
        ['dispatch (submit → claimed)', s.dispatch, s.errors + (when === 'A busy' ? r.completeFailures : 0)],
        ['submit', s.request, 0],
      ] as const)
        ctx.rows.push({
          scenario: `neighbours, PostgreSQL alone (no server): B's ${what}, ${when}`,
          unit: what === 'submit' ? 'req' : 'dispatches',
          count: xs.length,
          rate: RATE,
          p50: p(xs, 50),
          p95: p(xs, 95),
          p99: p(xs, 99),
          errors,
          peakRssMiB: 0,
        });
    }
    ctx.notes.push(
      `neighbours, PostgreSQL alone: B's dispatch p99 ${p(r.busy.dispatch, 99)} ms with A's raw flood busy, ${p(r.idle.dispatch, 99)} ms idle ` +
        `(${ratio(r.busy.dispatch, r.idle.dispatch)}×); B's submit p99 ${p(r.busy.request, 99)} against ${p(r.idle.request, 99)} ms ` +
        `(${ratio(r.busy.request, r.idle.request)}×); A's 64 raw loops completed ${r.floodCompleted} subtasks in ${r.floodSeconds.toFixed(1)} s meanwhile; ${r.completeFailures} of B's completions failed`,
    );
  } finally {
    await scratch.drop();
  }
}

export const neighboursScenario: Scenario = {
  name: 'neighbours',
  async run(ctx) {
    if (ctx.postgres) await rawBaseline(ctx);
    const result = await neighbours({
      base: ctx.base,
      adminKey: ctx.adminKey,
      quick: ctx.settings.quick,
      call,
      peakRss: () => peakRss(ctx.servers),
      serverPid: ctx.servers[0]!.pid,
    });
    ctx.rows.push(...result.rows);
    ctx.notes.push(...result.notes);
  },
};

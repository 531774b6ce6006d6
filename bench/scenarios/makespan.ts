/**
 * The `makespan` bench scenario: one execution of SUBTASKS subtasks on 16 in-process agents (createWorker,
 * concurrency 1), each subtask sleeping a run time drawn from a fixed, seeded distribution. Three runs, each on
 * fresh agents and a fresh network:
 *
 *   1. 2 agents run 10× slower, 1 agent claims and stalls (heartbeats, never finishes); stealing + speculation off
 *   2. the same stragglers, stealing + speculation on
 *   3. 16 healthy, uniform agents, stealing + speculation on (how many backups it launches for nothing)
 *
 * Each reports the makespan (the execute's 202 to the execution `completed`) against the ideal: total work ÷ the
 * total capacity of the healthy agents. A run that does not finish stops at a cap; for run 1 that is the expected
 * baseline (the stalled subtask never ends), so it is not an error.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createWorker, type WorkerSummary } from '../../packages/client/src/index.ts';
import { type Call, call } from '../api.ts';
import { peakRss } from '../processes.ts';
import type { Row } from '../row.ts';
import type { Scenario } from '../scenario.ts';
import { round } from '../stats.ts';

export interface MakespanOptions {
  base: string;
  key: string;
  quick: boolean;
  call: Call;
  /** The servers' peak RSS so far, in MiB, for the rows. */
  peakRss: () => number;
}

const AGENTS = 16;
const SLOW_FACTOR = 10;
const SEED = 0x5eed_2024;
/** A stalled handler's wait: until its signal aborts (the longest timer Node allows). */
const FOREVER_MS = 2_147_483_647;

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` run times in whole ms, lognormal (σ 0.5) with mean ≈ `meanMs`, the same on every call. */
export function durations(n: number, meanMs: number, seed = SEED): number[] {
  const random = mulberry32(seed);
  const sigma = 0.5;
  const mu = Math.log(meanMs) - (sigma * sigma) / 2;
  return Array.from({ length: n }, () => {
    // Box–Muller; 1 - random() keeps the logarithm's argument in (0, 1].
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return Math.max(1, Math.round(Math.exp(mu + sigma * z)));
  });
}

interface Plan {
  slow: number;
  stalled: number;
  features: boolean;
}

type Role = 'healthy' | 'slow' | 'stalled';

interface Speculation {
  backups_launched?: number;
  backups_won?: number;
  time_saved_seconds?: number;
}

interface ExecutionView {
  status: string;
  progress: { total: number; completed: number; failed: number };
  results: { subtask_results: unknown[] } | null;
  subtasks: { seq: number; replica: number; status: string }[];
  speculation?: Speculation | null;
}

export async function makespan({ base, key, quick, call, peakRss }: MakespanOptions): Promise<{ rows: Row[]; notes: string[] }> {
  const n = quick ? 200 : 1000;
  const work = durations(n, quick ? 20 : 100);
  const totalMs = work.reduce((s, v) => s + v, 0);
  const rows: Row[] = [];
  const notes: string[] = [];
  const plans: Plan[] = [
    { slow: 2, stalled: 1, features: false },
    { slow: 2, stalled: 1, features: true },
    { slow: 0, stalled: 0, features: true },
  ];
  notes.push(
    `makespan: ${n} subtasks of ${Math.min(...work)}–${Math.max(...work)} ms (mean ${round(totalMs / n)} ms, seeded lognormal), ` +
      `one worker of concurrency 1 per agent; slow agents sleep ${SLOW_FACTOR}×, the stalled agent holds each subtask it claims until its lease is lost`,
  );

  /** Runs whose network did not echo the settings (a server without them). */
  const unknownTo: string[] = [];
  for (const [index, plan] of plans.entries()) {
    const healthy = AGENTS - plan.slow - plan.stalled;
    const idealMs = totalMs / healthy;
    const capMs = quick ? Math.max(5_000, 6 * idealMs) : Math.max(10_000, 3 * idealMs);
    const onOff = plan.features ? 'on' : 'off';
    const who =
      plan.slow + plan.stalled > 0
        ? `${AGENTS} agents (${plan.slow} slow ×${SLOW_FACTOR}, ${plan.stalled} stalled)`
        : `${AGENTS} uniform agents`;
    const scenario = `makespan: ${n.toLocaleString('en-US')} subtasks on ${who}, stealing+speculation ${onOff}`;
    const tag = `makespan (${plan.slow + plan.stalled > 0 ? `${plan.slow} slow, ${plan.stalled} stalled` : 'uniform'}, ${onOff})`;

    const agents = await Promise.all(
      Array.from({ length: AGENTS }, (_, i) =>
        call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: `makespan-${index}-${i}` }),
      ),
    );
    const settings = { work_stealing: plan.features, speculation: plan.features };
    const create = { name: `makespan-${index}`, agents: agents.map((a) => a.id), coordination_strategy: 'round-robin' };
    let network: { id: string; work_stealing?: boolean; speculation?: boolean };
    try {
      network = await call(base, key, 'POST', '/api/v1/agents/networks', { ...create, ...settings });
    } catch (error) {
      if (!/: 400 /.test(String(error))) throw error;
      network = await call(base, key, 'POST', '/api/v1/agents/networks', create);
      notes.push(`${tag}: the server refused work_stealing/speculation (400); the network was created without them`);
    }
    // Whether the server knows the settings: it echoes them in the network it made.
    const known = network.work_stealing === plan.features && network.speculation === plan.features;
    if (!known) unknownTo.push(onOff);

    const roles: Role[] = Array.from({ length: AGENTS }, (_, i) =>
      i < plan.slow ? 'slow' : i < plan.slow + plan.stalled ? 'stalled' : 'healthy',
    );
    const workers = agents.map((a, i) => {
      const role = roles[i]!;
      return createWorker({
        url: base,
        apiKey: key,
        agent: a.id,
        concurrency: 1,
        handler: async (payload, { signal }) => {
          const ms = (payload as { items: number[] }).items[0]!;
          if (role === 'stalled') {
            // Never finishes on its own: the worker keeps heartbeating until the lease is lost or it is abandoned.
            await sleep(FOREVER_MS, undefined, { signal });
            throw new Error('stalled');
          }
          await sleep(role === 'slow' ? SLOW_FACTOR * ms : ms, undefined, { signal });
          return ms;
        },
      });
    });
    const workerErrors: string[] = [];
    const running = workers.map((w) =>
      w.run().catch((e: unknown) => {
        workerErrors.push(e instanceof Error ? e.message : String(e));
        return null;
      }),
    );
    await sleep(200);

    const e = await call<{ id: string }>(base, key, 'POST', `/api/v1/agents/networks/${network.id}/execute`, {
      task: { items: work, chunk_size: 1 },
    });
    const t0 = performance.now();
    // Polled through the list (one execution on this network): a summary, not the whole view of N subtasks.
    let status = 'queued';
    while ((status === 'queued' || status === 'running') && performance.now() - t0 < capMs) {
      await sleep(10);
      const list = await call<{ executions: { id: string; status: string }[] }>(
        base,
        key,
        'GET',
        `/api/v1/agents/networks/${network.id}/executions?limit=1`,
      );
      status = list.executions.find((x) => x.id === e.id)?.status ?? status;
    }
    const ms = performance.now() - t0;
    const finished = status === 'completed';
    if (status === 'queued' || status === 'running')
      await call(base, key, 'POST', `/api/v1/agents/networks/${network.id}/executions/${e.id}/cancel`, undefined, [200, 409]);
    for (const w of workers) w.abandon();
    await Promise.all(running);
    const view = await call<ExecutionView>(base, key, 'GET', `/api/v1/agents/networks/${network.id}/executions/${e.id}`);

    // Workers' own counts, by role.
    const by = (role: Role, field: keyof WorkerSummary) => workers.reduce((s, w, i) => s + (roles[i] === role ? w.summary[field] : 0), 0);
    const all = (field: keyof WorkerSummary) => workers.reduce((s, w) => s + w.summary[field], 0);

    // The results: each subtask's result is its run time, in task order, once.
    const results = view.results?.subtask_results ?? [];
    const mismatched = results.filter((r, i) => r !== work[i]).length;
    const completedBySeq = new Map<number, number>();
    for (const s of view.subtasks) if (s.status === 'completed') completedBySeq.set(s.seq, (completedBySeq.get(s.seq) ?? 0) + 1);
    const twice = [...completedBySeq.values()].filter((c) => c > 1).length;
    const wrongResults = finished && (results.length !== n || mismatched > 0 || view.progress.completed !== n);
    // Not finishing is the baseline's expected outcome; with the features on (and known to the server) it is a failure.
    const notFinishing = !finished && plan.features && known;
    const errors = (wrongResults ? 1 : 0) + (notFinishing ? 1 : 0) + workerErrors.length;

    const ratio = ms / idealMs;
    rows.push({
      scenario,
      unit: '× ideal',
      count: n,
      rate: finished ? round(ratio) : 0,
      p50: round(ms),
      p95: round(ms),
      p99: round(ms),
      errors,
      peakRssMiB: peakRss(),
    });

    const spec = view.speculation;
    const specText = spec
      ? `speculation: ${spec.backups_launched ?? '?'} backup${spec.backups_launched === 1 ? '' : 's'} launched` +
        (typeof spec.backups_launched === 'number'
          ? ` (${round((spec.backups_launched / n) * 100)}% of subtasks${!plan.slow && !plan.stalled ? ', target ≤ 5%' : ''})`
          : '') +
        `, ${spec.backups_won ?? '?'} won, ${spec.time_saved_seconds ?? '?'} s saved`
      : 'no speculation figures in the view';
    notes.push(
      `${tag}: ` +
        (finished
          ? `${(ms / 1000).toFixed(2)} s to completed, ideal ${(idealMs / 1000).toFixed(2)} s (${healthy} healthy agents), ${round(ratio)}× ideal`
          : `did not finish in ${(capMs / 1000).toFixed(0)} s (status ${status}, ${view.progress.completed}/${n} decided; ideal ${(idealMs / 1000).toFixed(2)} s), ` +
            `the row shows the cap and rate 0${plan.features ? '' : ', the expected baseline: nothing takes the stalled subtask back'}`) +
        `; ${results.length} results${mismatched ? `, ${mismatched} wrong` : ''}, ${twice} subtasks completed by two copies` +
        `; workers claimed ${all('claimed')}, completed ${all('completed')} (slow agents ${by('slow', 'completed')}, stalled ${by('stalled', 'completed')}), ` +
        `failed ${all('failed')}, lost ${all('lost')}; ${specText}` +
        (workerErrors.length ? `; workers refused: ${workerErrors.slice(0, 2).join('; ')}` : ''),
    );
  }
  if (unknownTo.length > 0)
    notes.push(
      `makespan: the network views have no work_stealing/speculation settings (runs with them ${[...new Set(unknownTo)].join(', ')}): ` +
        'the server does not know them, so the "on" runs ran without them',
    );
  return { rows, notes };
}

export const makespanScenario: Scenario = {
  name: 'makespan',
  async run(ctx) {
    // Makespan against the ideal with stragglers and a stalled agent, work stealing and speculation off then on.
    const result = await makespan({ base: ctx.base, key: ctx.key, quick: ctx.settings.quick, call, peakRss: () => peakRss(ctx.servers) });
    ctx.rows.push(...result.rows);
    ctx.notes.push(...result.notes);
  },
};

/**
 * The `verification` bench scenario (README "Verification"): one execution of 1,000 subtasks on 20 in-process
 * agents (createWorker, concurrency 1), each subtask's answer a deterministic function of its input, under four
 * policies, each run on fresh agents and a fresh network: none, replicate k=2 q=2, replicate k=3 q=2, adaptive
 * (the defaults: q 2, N 10, r 0.1).
 *
 * Faults (seeded, the same in every run):
 *   - 2 agents answer wrong 30% of the time;
 *   - 1 agent always answers wrong;
 *   - 1 agent answers right until the run has handed in 300 results (30% of the subtasks), then always wrong.
 * A wrong answer is the right one plus a random offset, so two wrong answers practically never agree.
 *
 * Each run reports: wrong results accepted (in the execution's results), inconclusive subtasks, the compute
 * overhead (results computed by the workers ÷ subtasks; the server's own figure beside it), the makespan (execute's
 * 202 to `completed`), and for each faulty agent how many results it got in before it was caught (its first result
 * a quorum found invalid) and before it was quarantined. Errors: a run that did not complete, or a wrong result a
 * quorum validated (a bug: two wrong answers agreeing). A wrong result taken on trust from a host that turned bad
 * and was never spot-checked is the adaptive policy's stated residual (README), reported, not an error.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createWorker } from '../../packages/client/src/index.ts';
import type { Call } from '../api.ts';
import { call } from '../api.ts';
import { peakRss } from '../processes.ts';
import type { Row } from '../row.ts';
import type { Scenario } from '../scenario.ts';
import { durations } from './makespan.ts';

export interface VerificationOptions {
  base: string;
  key: string;
  quick: boolean;
  call: Call;
  peakRss: () => number;
}

const SUBTASKS = 1000;
const AGENTS = 20;
/** The share of the run's results after which the turning agent answers wrong. */
const TURN_AT = 0.3;
const SEED = 0x7e51_f1ed;

type Role = 'honest' | 'flaky' | 'wrong' | 'turning';
const ROLES: Role[] = ['flaky', 'flaky', 'wrong', 'turning'];

interface Plan {
  name: string;
  verification: Record<string, unknown> | null;
}

const PLANS: Plan[] = [
  { name: 'none', verification: null },
  { name: 'replicate k=2 q=2', verification: { policy: 'replicate', copies: 2, quorum: 2 } },
  { name: 'replicate k=3 q=2', verification: { policy: 'replicate', copies: 3, quorum: 2 } },
  { name: 'adaptive', verification: { policy: 'adaptive' } },
];

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

/** The right answer: a deterministic function of the input. */
const answerOf = (x: number) => (x * 2_654_435_761) % 1_000_003;

interface SubtaskView {
  seq: number;
  replica: number;
  status: string;
  assignee_id: string | null;
  result?: unknown;
  completed_at: string | null;
  validation: string | null;
  validated_by: string | null;
}

interface ExecutionView {
  status: string;
  results: { subtask_results: unknown[]; inconclusive?: number[] } | null;
  subtasks: SubtaskView[];
  verification: { compute_overhead: number | null; invalid_results: number; replicas_launched: number } | null;
}

interface HostView {
  host_id: string;
  quarantined: boolean;
  quarantined_at: string | null;
  invalid: number;
  trusted: boolean;
}

const round = (n: number) => Math.round(n * 100) / 100;

/** SQL statements the server has sent so far (its /metrics counter, from loopback without a key). */
async function statementsSent(base: string): Promise<number> {
  const m = /^aitbc_db_statements_total (\d+)/m.exec(await (await fetch(`${base}/metrics`)).text());
  return m ? Number(m[1]) : Number.NaN;
}

export async function verification({ base, key, quick, call, peakRss }: VerificationOptions): Promise<{ rows: Row[]; notes: string[] }> {
  const n = SUBTASKS;
  // Run times: the same seeded lognormal for every policy; --quick keeps the 1,000 subtasks but shortens them.
  const work = durations(n, quick ? 2 : 20, SEED);
  const inputs = Array.from({ length: n }, (_, i) => 1 + i);
  const rows: Row[] = [];
  const notes: string[] = [
    `verification: ${n} subtasks on ${AGENTS} agents (one worker of concurrency 1 each), ${Math.min(...work)}–${Math.max(...work)} ms each ` +
      `(seeded lognormal); 2 agents wrong 30% of the time, 1 always wrong, 1 wrong once the run has ${TURN_AT * n} results in`,
  ];
  for (const [index, plan] of PLANS.entries()) {
    const agents = await Promise.all(
      Array.from({ length: AGENTS }, (_, i) => call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: `verify-${index}-${i}` })),
    );
    const roles: Role[] = agents.map((_, i) => ROLES[i] ?? 'honest');
    const network = await call<{ id: string; verification?: { policy: string } }>(base, key, 'POST', '/api/v1/agents/networks', {
      name: `verification-${index}`,
      agents: agents.map((a) => a.id),
      ...(plan.verification ? { verification: plan.verification } : {}),
    });
    if (plan.verification && network.verification?.policy !== plan.verification.policy)
      notes.push(`verification (${plan.name}): the server does not know verification policies; the run had none`);

    // Every result handed in, in order, by whom and whether it was wrong (the turning agent turns on this count).
    let handedIn = 0;
    const log = new Map<string, { wrong: boolean; order: number }[]>();
    const workerErrors: string[] = [];
    const workers = agents.map((a, i) => {
      const role = roles[i]!;
      const random = mulberry32(SEED + i);
      log.set(a.id, []);
      return createWorker({
        url: base,
        apiKey: key,
        agent: a.id,
        concurrency: 1,
        handler: async (payload, { signal }) => {
          const { items, offset } = payload as { items: number[]; offset: number };
          await sleep(work[offset]!, undefined, { signal });
          const right = answerOf(items[0]!);
          const wrong = role === 'wrong' || (role === 'flaky' && random() < 0.3) || (role === 'turning' && handedIn >= TURN_AT * n);
          log.get(a.id)!.push({ wrong, order: handedIn++ });
          return wrong ? right + 1 + Math.floor(random() * 1_000_000) : right;
        },
      });
    });
    const running = workers.map((w) =>
      w.run().catch((e: unknown) => {
        workerErrors.push(e instanceof Error ? e.message : String(e));
        return null;
      }),
    );
    await sleep(200);

    const statementsBefore = await statementsSent(base);
    const e = await call<{ id: string }>(base, key, 'POST', `/api/v1/agents/networks/${network.id}/execute`, {
      task: { items: inputs, chunk_size: 1 },
    });
    const t0 = performance.now();
    const capMs = quick ? 120_000 : 600_000;
    // Watching the hosts: when each faulty agent is first caught (a result of its found invalid), what it had handed in.
    const caughtAfter = new Map<string, { results: number; bad: number }>();
    const faultyIds = agents.filter((_, i) => roles[i] !== 'honest').map((a) => a.id);
    // Not for `none` (nobody is ever caught): its run is the baseline, measured as an unverified execution always was.
    let watching = plan.verification !== null;
    const watcher = (async () => {
      while (watching) {
        const seen = (await call<{ hosts: HostView[] }>(base, key, 'GET', '/api/v1/hosts?limit=500')).hosts;
        for (const id of faultyIds) {
          if (caughtAfter.has(id) || !seen.some((h) => h.host_id === id && h.invalid > 0)) continue;
          const own = log.get(id)!;
          caughtAfter.set(id, { results: own.length, bad: own.filter((r) => r.wrong).length });
        }
        await sleep(100);
      }
    })();
    let status = 'queued';
    while ((status === 'queued' || status === 'running') && performance.now() - t0 < capMs) {
      await sleep(50);
      const list = await call<{ executions: { id: string; status: string }[] }>(
        base,
        key,
        'GET',
        `/api/v1/agents/networks/${network.id}/executions?limit=1`,
      );
      status = list.executions.find((x) => x.id === e.id)?.status ?? status;
    }
    const ms = performance.now() - t0;
    const statements = (await statementsSent(base)) - statementsBefore;
    watching = false;
    await watcher;
    if (status === 'queued' || status === 'running')
      await call(base, key, 'POST', `/api/v1/agents/networks/${network.id}/executions/${e.id}/cancel`, undefined, [200, 409]);
    for (const w of workers) w.abandon();
    await Promise.all(running);
    const view = await call<ExecutionView>(base, key, 'GET', `/api/v1/agents/networks/${network.id}/executions/${e.id}`);
    const hosts = plan.verification ? (await call<{ hosts: HostView[] }>(base, key, 'GET', '/api/v1/hosts?limit=500')).hosts : [];

    // Wrong results accepted, and how: by a quorum (a bug), by trust (the stated residual), or with no policy at all.
    const results = view.results?.subtask_results ?? [];
    const inconclusive = view.results?.inconclusive?.length ?? 0;
    const accepted = new Map(
      view.subtasks.filter((s) => s.validation !== 'invalid' && (s as { accepted?: boolean }).accepted).map((s) => [s.seq, s]),
    );
    let wrong = 0;
    let wrongByQuorum = 0;
    results.forEach((r, seq) => {
      if (r === null || r === answerOf(inputs[seq]!)) return;
      wrong++;
      if (accepted.get(seq)?.validated_by === 'quorum') wrongByQuorum++;
    });
    const computed = [...log.values()].reduce((s, l) => s + l.length, 0);
    const overhead = computed / n;
    const finished = status === 'completed';

    // Each faulty agent: results in before its first was found invalid, and before it was quarantined.
    const faulty = agents
      .map((a, i) => ({ id: a.id, role: roles[i]! }))
      .filter((a) => a.role !== 'honest')
      .map(({ id, role }) => {
        // Results it got in before its quarantine, by the server's clock: its completed copies up to then.
        const mine = view.subtasks.filter((s) => s.assignee_id === id && s.completed_at && s.status === 'completed');
        const host = hosts.find((h) => h.host_id === id);
        const quarantinedAt = host?.quarantined_at ?? null;
        const before = quarantinedAt ? mine.filter((s) => new Date(s.completed_at!) <= new Date(quarantinedAt)).length : null;
        const own = log.get(id)!;
        const caught = caughtAfter.get(id) ?? null;
        return { id, role, results: own.length, bad: own.filter((r) => r.wrong).length, caught, before };
      });

    const errors = (finished ? 0 : 1) + wrongByQuorum + workerErrors.length;
    rows.push({
      scenario: `verification: ${n.toLocaleString('en-US')} subtasks on ${AGENTS} agents (4 faulty), ${plan.name}`,
      unit: '× work',
      count: n,
      rate: round(overhead),
      p50: round(ms),
      p95: round(ms),
      p99: round(ms),
      errors,
      peakRssMiB: peakRss(),
    });
    const describe = (f: (typeof faulty)[number]) => {
      const what = { flaky: 'wrong 30%', wrong: 'always wrong', turning: 'turns wrong', honest: '' }[f.role];
      const caught = f.caught === null ? 'never caught' : `caught after ${f.caught.results} results (${f.caught.bad} bad)`;
      const quarantine = f.before === null ? 'not quarantined' : `quarantined after ${f.before} results`;
      return `${what}: ${f.results} results (${f.bad} wrong), ${caught}, ${quarantine}`;
    };
    notes.push(
      `verification (${plan.name}): ${finished ? `${(ms / 1000).toFixed(2)} s to completed` : `did not complete (status ${status})`}; ` +
        `${wrong} wrong results accepted (${wrongByQuorum} by a quorum), ${inconclusive} inconclusive; ` +
        `overhead ${round(overhead)}× (${computed} results computed; the server's figure ${view.verification?.compute_overhead ?? 'n/a'}), ` +
        `${view.verification?.replicas_launched ?? 0} extra copies, ${view.verification?.invalid_results ?? 0} invalid results caught; ` +
        `${hosts.filter((h) => agents.some((a) => a.id === h.host_id) && h.trusted).length} hosts trusted at the end; ` +
        `${round(statements / n)} SQL statements a subtask (the polls of its status included); ` +
        faulty.map(describe).join('; ') +
        (workerErrors.length ? `; workers refused: ${workerErrors.slice(0, 2).join('; ')}` : ''),
    );
    if (plan.name === 'adaptive') {
      const always = faulty.find((f) => f.role === 'wrong')!;
      const turning = faulty.find((f) => f.role === 'turning')!;
      const check = (ok: boolean) => (ok ? 'met' : 'MISSED');
      notes.push(
        `verification (adaptive) targets: 0 wrong accepted ${check(wrong === 0)} (${wrong}); overhead ≤ 1.3× ${check(overhead <= 1.3)} (${round(overhead)}×); ` +
          `always-wrong agent quarantined after ≤ 5 results ${check(always.before !== null && always.before <= 5)} (${always.before ?? 'never'}); ` +
          `turning agent caught within 50 bad results ${check(turning.caught !== null && turning.caught.bad <= 50)} (${turning.caught?.bad ?? 'never'})`,
      );
    }
  }
  return { rows, notes };
}

export const verificationScenario: Scenario = {
  name: 'verification',
  async run(ctx) {
    // Verified results from faulty agents under none, replicate and adaptive.
    const result = await verification({
      base: ctx.base,
      key: ctx.key,
      quick: ctx.settings.quick,
      call,
      peakRss: () => peakRss(ctx.servers),
    });
    ctx.rows.push(...result.rows);
    ctx.notes.push(...result.notes);
  },
};

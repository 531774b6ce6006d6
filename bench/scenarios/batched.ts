/**
 * The SDK's batched workers (createWorker) drain a queue: claims of up to their free slots, one heartbeat for all
 * leases, results batched.
 */
import { createWorker } from '../../packages/client/src/index.ts';
import { call } from '../api.ts';
import { ratioNote } from '../ceilings.ts';
import { lockWaits } from '../lock-waits.ts';
import { backupsLaunched, statementsSent } from '../metrics.ts';
import { cpuSeconds, peakRss } from '../processes.ts';
import type { Scenario } from '../scenario.ts';
import { cpuPerThousand, profiled } from '../work-path.ts';

export const batched: Scenario = {
  name: 'batched',
  async run(ctx) {
    const { base, key, servers, rows, notes } = ctx;
    const { instances, batchedSubtasks: BATCHED_SUBTASKS } = ctx.settings;
    // The SDK's workers (createWorker, handlers in this process that return at once) drain a queue: claims of up to
    // their free slots, one heartbeat for all leases, results batched. WORKERS agents, one worker each.
    const WORKERS = 8;
    const CONCURRENCY = 64;
    for (const n of instances > 1 ? [1, instances] : [1]) {
      const on = servers.slice(0, n);
      const agents = await Promise.all(
        Array.from({ length: WORKERS }, (_, i) => call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: `batcher-${n}-${i}` })),
      );
      const network = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents/networks', {
        name: `batched-${n}`,
        agents: agents.map((a) => a.id),
        claim_timeout_seconds: 3600,
      });
      const executions: string[] = [];
      for (let done = 0; done < BATCHED_SUBTASKS; done += 1000) {
        const e = await call<{ id: string }>(base, key, 'POST', `/api/v1/agents/networks/${network.id}/execute`, {
          task: { subtasks: Array.from({ length: 1000 }, (_, i) => done + i) },
        });
        executions.push(e.id);
      }
      // Each worker holds a worker key that names its agent alone, as the README deploys them.
      const workerKeys = await Promise.all(
        agents.map(async (a) => (await call<{ key: string }>(base, key, 'POST', '/api/v1/keys', { scope: 'worker', agents: [a.id] })).key),
      );
      const handled = new Map<unknown, number>();
      // The workers' own account of trouble (a lost lease, a refused or failed call), the first few lines.
      const trouble: string[] = [];
      const workers = agents.map((a, i) =>
        createWorker({
          url: on[i % on.length]!.url,
          apiKey: workerKeys[i]!,
          agent: a.id,
          concurrency: CONCURRENCY,
          waitSeconds: 1,
          log: (line: string) => {
            if (trouble.length < 5 && /lost|refused|unreachable|retry|error/i.test(line)) trouble.push(line);
          },
          handler: (payload) => {
            handled.set(payload, (handled.get(payload) ?? 0) + 1);
            return payload;
          },
        }),
      );
      const before = await statementsSent(on[0]!.url);
      const backupsBefore = await backupsLaunched(on);
      const cpu0 = { bench: process.cpuUsage(), servers: on.map((sv) => cpuSeconds(sv.pid)) };
      const t0 = performance.now();
      const running = workers.map((w) => w.run());
      const done = () => workers.reduce((sum, w) => sum + w.summary.completed, 0);
      const { waits, seconds, benchCpu, serverCpu, summaries, statementsAfter } = await profiled(
        ctx,
        `batched (${n} instance${n > 1 ? 's' : ''})`,
        ctx.postgres?.url,
        async () => {
          const { summary } = await lockWaits(ctx.postgres?.probeUrl, async () => {
            while (done() < BATCHED_SUBTASKS && performance.now() - t0 < 600_000) {
              await new Promise((r) => setTimeout(r, 5));
            }
          });
          const seconds = (performance.now() - t0) / 1000;
          const benchCpu = (process.cpuUsage(cpu0.bench).user + process.cpuUsage(cpu0.bench).system) / 1e6 / seconds;
          const serverCpu = on.map((sv, i) => cpuSeconds(sv.pid) - cpu0.servers[i]!);
          // Stopped inside the profile: idle workers' long polls are not the work measured.
          for (const w of workers) w.stop();
          const summaries = await Promise.all(running);
          const statementsAfter = n === 1 ? await statementsSent(on[0]!.url) : null;
          return { waits: summary, seconds, benchCpu, serverCpu, summaries, statementsAfter };
        },
        done,
      );
      if (waits) notes.push(`batched (${n} instance(s)) ${waits}`);
      if (trouble.length) notes.push(`batched (${n} instance(s)) workers said: ${trouble.join(' | ')}`);
      const statements = statementsAfter === null ? null : (statementsAfter - before) / BATCHED_SUBTASKS;
      const completed = summaries.reduce((sum, x) => sum + x.completed, 0);
      const lost = summaries.reduce((sum, x) => sum + x.lost, 0);
      const twice = [...handled.values()].filter((c) => c > 1).length;
      // A backup copy (speculation, on by default) runs a subtask twice and its loser's result is refused: expected,
      // up to the number launched. Counted twice would be a fencing bug: `completed` covers it.
      const backups = (await backupsLaunched(on)) - backupsBefore;
      const listed = await call<{ total_count: number }>(
        base,
        key,
        'GET',
        `/api/v1/agents/networks/${network.id}/executions?status=completed&limit=1`,
      );
      const unfinished = executions.length - listed.total_count;
      const rate = Math.round(completed / seconds);
      rows.push({
        scenario: `batched claim + result via createWorker (${WORKERS} workers × ${CONCURRENCY}, ${n} instance${n > 1 ? 's' : ''})`,
        unit: 'subtasks/s',
        count: completed,
        rate,
        p50: 0,
        p95: 0,
        p99: 0,
        errors: Math.max(0, lost - backups) + Math.max(0, twice - backups) + unfinished + Math.abs(BATCHED_SUBTASKS - completed),
        peakRssMiB: peakRss(on),
      });
      notes.push(
        `batched (${n} instance(s)): ${completed} of ${BATCHED_SUBTASKS} subtasks completed in ${seconds.toFixed(2)} s, ${twice} handled twice, ${lost} lost, ` +
          `${backups} backup copies launched (${((backups / BATCHED_SUBTASKS) * 100).toFixed(1)}%), ` +
          `${unfinished} executions unfinished; CPU: server(s) ${serverCpu.map((c) => `${Math.round((c / seconds) * 100)}%`).join(', ')}, workers' process ${Math.round(benchCpu * 100)}%` +
          (statements === null ? '' : `; ${statements.toFixed(2)} SQL statements per subtask (claim + result, amortized)`) +
          `; ${cpuPerThousand(
            serverCpu.reduce((sum, c) => sum + c, 0),
            completed,
            seconds,
          )}`,
      );
      const ratio = ratioNote(ctx.ceilings, ctx.settings.db, `batched (${n} instance(s))`, rate, { batch: 'many' });
      if (ratio) notes.push(ratio);
    }
  },
};

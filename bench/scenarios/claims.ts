/** Unbatched claims and results: 64 workers, one request each, on one network; no subtask may be claimed twice. */
import { call } from '../api.ts';
import { ratioNote } from '../ceilings.ts';
import { loops } from '../drivers.ts';
import { lockWaits } from '../lock-waits.ts';
import { statementsPer } from '../metrics.ts';
import { cpuSeconds } from '../processes.ts';
import { row } from '../row.ts';
import type { Scenario } from '../scenario.ts';
import { percentile, round } from '../stats.ts';
import { cpuPerThousand, profiled } from '../work-path.ts';

export const claims: Scenario = {
  name: 'claims',
  async run(ctx) {
    const { base, key, servers, rows, notes } = ctx;
    const { instances, seconds: SECONDS, claimSubtasks } = ctx.settings;
    // Claims and results against one network, from 64 workers spread over the instances; no subtask may be claimed twice.
    // With --instances N, the same run on 1 instance first, then on N, side by side.
    for (const n of instances > 1 ? [1, instances] : [1]) {
      const on = servers.slice(0, n);
      const agents = await Promise.all(
        Array.from({ length: 64 }, (_, i) => call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: `claimer-${n}-${i}` })),
      );
      const network = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents/networks', {
        name: `claims-${n}`,
        agents: agents.map((a) => a.id),
        coordination_strategy: 'round-robin',
        // What the run leaves unclaimed is cancelled after it (below). Until then the sweeper must not hand it to
        // other agents (30 s after the execute by default, one transaction a subtask): on a slow machine the 20
        // executes and the timed run, with --pg-private's wait for the statistics, take longer than that.
        claim_timeout_seconds: 3600,
      });
      const total = claimSubtasks;
      const executions: string[] = [];
      for (let done = 0; done < total; done += 1000) {
        const e = await call<{ id: string }>(base, key, 'POST', `/api/v1/agents/networks/${network.id}/execute`, {
          task: { subtasks: Array.from({ length: 1000 }, (_, i) => done + i) },
        });
        executions.push(e.id);
      }
      // Statements per claim + result pair, sequentially on one agent with nothing else running.
      // (Round-robin gives each agent total/64 subtasks; --quick has 31 each.)
      const pairs = Math.min(50, Math.floor(total / 64) - 1);
      // Timed as well: one agent alone, a pair at a time (the raw loop at 1 loop is its ceiling).
      const alone: number[] = [];
      const perPair = await statementsPer(base, pairs, async () => {
        for (let i = 0; i < pairs; i++) {
          const t = performance.now();
          const claim = await call<{ subtask: { subtask_id: string; lease_id: string } }>(
            base,
            key,
            'POST',
            `/api/v1/agents/${agents[0]!.id}/claim`,
            {},
          );
          await call(base, key, 'POST', `/api/v1/subtasks/${claim.subtask.subtask_id}/result`, {
            lease_id: claim.subtask.lease_id,
            result: 1,
          });
          alone.push(performance.now() - t);
        }
      });
      notes.push(`claim + result: ${perPair} SQL statements per pair (sequential, one agent; BEGIN/COMMIT not counted)`);
      if (n === 1) {
        const ms = alone.reduce((sum, x) => sum + x, 0);
        const p50 = round(
          percentile(
            [...alone].sort((a, b) => a - b),
            50,
          ),
        );
        const label = `claim + result, one agent alone (${pairs} pairs in turn, p50 ${p50} ms)`;
        const ratio = ratioNote(ctx.ceilings, ctx.settings.db, label, (pairs / ms) * 1000, { batch: 1, loops: 1 });
        if (ratio) notes.push(ratio);
      }
      const seen = new Map<string, number>();
      let serverCpu = 0;
      const { value: run, summary: waits } = await profiled(
        ctx,
        `claims (${n} instance${n > 1 ? 's' : ''})`,
        ctx.postgres?.url,
        async () => {
          const cpu0 = on.map((sv) => cpuSeconds(sv.pid));
          const sampled = await lockWaits(ctx.postgres?.probeUrl, () =>
            loops(SECONDS, 64, async (i) => {
              const target = on[i % on.length]!.url;
              const agent = agents[i]!.id;
              const claim = await call<{ subtask: { subtask_id: string; lease_id: string } | null }>(
                target,
                key,
                'POST',
                `/api/v1/agents/${agent}/claim`,
                {},
              );
              if (!claim.subtask) return;
              seen.set(claim.subtask.subtask_id, (seen.get(claim.subtask.subtask_id) ?? 0) + 1);
              await call(target, key, 'POST', `/api/v1/subtasks/${claim.subtask.subtask_id}/result`, {
                lease_id: claim.subtask.lease_id,
                result: 1,
              });
            }),
          );
          serverCpu = on.reduce((sum, sv, i) => sum + cpuSeconds(sv.pid) - cpu0[i]!, 0);
          return sampled;
        },
        () => seen.size,
      );
      if (waits) notes.push(`claim + result (${n} instance(s)) ${waits}`);
      const doubles = [...seen.values()].filter((c) => c > 1).length;
      // What the run left unclaimed is withdrawn: 30 s on, the sweeper would hand it to other agents, one
      // transaction a subtask, while the next scenarios run.
      for (const id of executions)
        await call(base, key, 'POST', `/api/v1/agents/networks/${network.id}/executions/${id}/cancel`, undefined, [200, 409]);
      const claimRow = row(
        `claim + result (${n} instance${n > 1 ? 's' : ''})`,
        'pairs/s',
        run.latencies,
        SECONDS,
        run.errors + doubles,
        on,
      );
      rows.push(claimRow);
      notes.push(
        `claims on ${n} instance(s): ${seen.size} subtasks claimed and completed, ${doubles} claimed twice; ` +
          cpuPerThousand(serverCpu, seen.size, SECONDS),
      );
      const ratio = ratioNote(ctx.ceilings, ctx.settings.db, `claim + result (${n} instance(s), 64 workers)`, claimRow.rate, {
        batch: 1,
        loops: 64,
      });
      if (ratio) notes.push(`${ratio}; p99 ${claimRow.p99} ms`);
    }
  },
};

/** A map over N items (1,000 subtasks) on 64 in-process workers, execute to completed, the reduced sum checked. */
import { createWorker } from '../../packages/client/src/index.ts';
import { call } from '../api.ts';
import { statementsSent } from '../metrics.ts';
import { peakRss } from '../processes.ts';
import type { Scenario } from '../scenario.ts';
import { round } from '../stats.ts';

export const map: Scenario = {
  name: 'map',
  async run(ctx) {
    const { base, key, servers, rows, notes } = ctx;
    const MAP_ITEMS = ctx.settings.mapItems;
    // A map over MAP_ITEMS items (1,000 subtasks of MAP_ITEMS / 1000 items) on 64 in-process workers, execute to completed.
    const agents = await Promise.all(
      Array.from({ length: 64 }, (_, i) => call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: `mapper-${i}` })),
    );
    const network = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents/networks', {
      name: 'map',
      agents: agents.map((x) => x.id),
    });
    const workers = agents.map((x) =>
      createWorker({
        url: base,
        apiKey: key,
        agent: x.id,
        concurrency: 4,
        handler: (payload) => (payload as { items: number[] }).items.reduce((sum, v) => sum + 2 * v, 0),
      }),
    );
    const running = workers.map((w) => w.run());
    await new Promise((r) => setTimeout(r, 200));
    const items = Array.from({ length: MAP_ITEMS }, (_, i) => i);
    const mapStatements = await statementsSent(base);
    const t0 = performance.now();
    const e = await call<{ id: string }>(base, key, 'POST', `/api/v1/agents/networks/${network.id}/execute`, {
      task: { items, chunk_size: MAP_ITEMS / 1000, reduce: 'sum' },
    });
    let view: {
      status: string;
      results: { reduced?: number } | null;
      speculation?: { backups_launched: number; backups_won: number };
    } = { status: 'queued', results: null };
    while (view.status === 'queued' || view.status === 'running') {
      await new Promise((r) => setTimeout(r, 10));
      view = await call(base, key, 'GET', `/api/v1/agents/networks/${network.id}/executions/${e.id}`);
      if (performance.now() - t0 > 600_000) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    for (const w of workers) w.stop();
    await Promise.all(running);
    const expected = MAP_ITEMS * (MAP_ITEMS - 1);
    const wrong = view.status !== 'completed' || view.results?.reduced !== expected ? 1 : 0;
    rows.push({
      scenario: `map: ${MAP_ITEMS} items (1,000 subtasks) on 64 workers, execute → completed`,
      unit: 'items/s',
      count: MAP_ITEMS,
      rate: Math.round(MAP_ITEMS / seconds),
      p50: round(seconds * 1000),
      p95: round(seconds * 1000),
      p99: round(seconds * 1000),
      errors: wrong,
      peakRssMiB: peakRss(servers),
    });
    notes.push(
      `map: ${seconds.toFixed(2)} s from execute to completed (status ${view.status}, reduced ${view.results?.reduced} of ${expected} expected); ` +
        `${view.speculation?.backups_launched ?? 0} backup copies launched, ${view.speculation?.backups_won ?? 0} won; ` +
        `${Math.round((await statementsSent(base)) - mapStatements)} SQL statements (the status polls included)`,
    );
  },
};

/** Dispatch latency: an idle worker long-polls; each round submits a one-subtask execution and times until its handler runs. */
import { createWorker } from '../../packages/client/src/index.ts';
import { call } from '../api.ts';
import { row } from '../row.ts';
import type { Scenario } from '../scenario.ts';
import { percentile, round } from '../stats.ts';

export const dispatch: Scenario = {
  name: 'dispatch',
  async run(ctx) {
    const { base, key, servers, rows, notes } = ctx;
    const DISPATCHES = ctx.settings.dispatches;
    // Dispatch latency: an idle worker long-polls; each round submits a one-subtask execution and times until its handler runs.
    const agent = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: 'dispatcher' });
    const network = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents/networks', { name: 'dispatch', agents: [agent.id] });
    let started: ((at: number) => void) | null = null;
    const worker = createWorker({
      url: base,
      apiKey: key,
      agent: agent.id,
      waitSeconds: 30,
      handler: () => started?.(performance.now()),
    });
    const running = worker.run();
    await new Promise((r) => setTimeout(r, 200));
    const sentToClaim: number[] = [];
    const acceptedToClaim: number[] = [];
    // Every other round's execute carries an Idempotency-Key, as the CLI's and createClient's always do.
    const keyedToClaim: number[] = [];
    let errors = 0;
    let keyedErrors = 0;
    const run = `${process.pid}-${Date.now()}`;
    for (let i = 0; i < 2 * DISPATCHES; i++) {
      const keyed = i % 2 === 1;
      const claimed = new Promise<number>((resolve) => (started = resolve));
      const sent = performance.now();
      try {
        if (keyed) await keyedExecute(base, key, network.id, { task: { n: i } }, `dispatch-${run}-${i}`);
        else await call(base, key, 'POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { n: i } });
      } catch {
        if (keyed) keyedErrors++;
        else errors++;
        continue;
      }
      const accepted = performance.now();
      const at = await Promise.race([claimed, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
      if (at < 0) {
        if (keyed) keyedErrors++;
        else errors++;
        continue;
      }
      if (keyed) {
        keyedToClaim.push(at - sent);
      } else {
        sentToClaim.push(at - sent);
        acceptedToClaim.push(Math.max(0, at - accepted));
      }
      // Let the result land before the next round, so each dispatch finds the worker idle and waiting.
      await new Promise((r) => setTimeout(r, 20));
    }
    worker.stop();
    await running;
    rows.push(row('dispatch: execute sent → idle worker’s handler started', 'dispatches', sentToClaim, 1, errors, servers));
    rows[rows.length - 1]!.rate = sentToClaim.length;
    rows.push(
      row('dispatch, the execute under an Idempotency-Key (as the CLI sends it)', 'dispatches', keyedToClaim, 1, keyedErrors, servers),
    );
    rows[rows.length - 1]!.rate = keyedToClaim.length;
    const a = [...acceptedToClaim].sort((x, y) => x - y);
    notes.push(
      `dispatch: from the execute's 202 arriving to the handler starting, p50 ${round(percentile(a, 50))} ms, p99 ${round(percentile(a, 99))} ms ` +
        `(0 when the claim arrived first); the row times from the execute request being sent, which includes the execute itself`,
    );
  },
};

/** An execute under an idempotency key, as the CLI and createClient send every submit. */
async function keyedExecute(base: string, key: string, networkId: string, body: unknown, idempotencyKey: string): Promise<void> {
  const res = await fetch(`${base}/api/v1/agents/networks/${networkId}/execute`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`keyed execute: ${res.status} ${text.slice(0, 300)}`);
}

/** One line of the bench's table: a scenario's rate, latency percentiles, errors and the servers' peak RSS. */
import { peakRss } from './processes.ts';
import { percentile, round } from './stats.ts';

export interface Row {
  scenario: string;
  unit: string;
  count: number;
  rate: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  peakRssMiB: number;
}

/** A row from per-operation latencies (ms) over `seconds`; sorts `latencies` in place. */
export function row(scenario: string, unit: string, latencies: number[], seconds: number, errors: number, servers: { pid: number }[]): Row {
  latencies.sort((a, b) => a - b);
  return {
    scenario,
    unit,
    count: latencies.length,
    rate: Math.round((latencies.length / seconds) * 10) / 10,
    p50: round(percentile(latencies, 50)),
    p95: round(percentile(latencies, 95)),
    p99: round(percentile(latencies, 99)),
    errors,
    peakRssMiB: peakRss(servers),
  };
}

/** The rows as the console table. */
export function table(rows: Row[]): string {
  const head = ['scenario', 'rate', 'unit', 'p50 ms', 'p95 ms', 'p99 ms', 'errors', 'peak RSS MiB'];
  const body = rows.map((r) => [r.scenario, r.rate, r.unit, r.p50, r.p95, r.p99, r.errors, r.peakRssMiB || '-'].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** One line of the bench's table: a scenario's rate, latency percentiles, errors and the servers' peak RSS. */
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

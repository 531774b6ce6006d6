/** The nearest-rank percentile `p` (0–100) of an ascending list; 0 for an empty one. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** To two decimals, as the table prints figures. */
export const round = (n: number) => Math.round(n * 100) / 100;

/** A whole number with thousands separators (1,850), as the notes print rates. */
export const grouped = (n: number) => Math.round(n).toLocaleString('en-US');

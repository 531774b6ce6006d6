/**
 * The database's own ceiling for the work path (the raw loops of the ceiling scenario), and how a work-path figure
 * of the same run reads against it: the same database, the same batching, the same number of loops where there is
 * one (SQLite has one connection, so one loop; batches are read against the best batched loop).
 */
import { grouped } from './stats.ts';

export interface Ceiling {
  db: 'sqlite' | 'postgres';
  /** Subtasks a claim asks for. */
  batch: number;
  /** Loops running side by side. */
  loops: number;
  /** Claim + complete iterations a second. */
  pairsPerSecond: number;
  subtasksPerSecond: number;
}

/** What the ceiling of a figure is: unbatched at `loops` loops, or batched. */
export type Matching = { batch: 1; loops: number } | { batch: 'many' };

function ceilingFor(ceilings: Ceiling[], db: Ceiling['db'], match: Matching): Ceiling | undefined {
  const same = ceilings.filter((c) => c.db === db && (match.batch === 1 ? c.batch === 1 : c.batch > 1));
  if (match.batch === 1) return same.find((c) => c.loops === match.loops) ?? (db === 'sqlite' ? same[0] : undefined);
  return same.sort((a, b) => b.subtasksPerSecond - a.subtasksPerSecond)[0];
}

/**
 * "claim + result (1 instance): 179 pairs/s = 0.10× the raw loop at 64 loops (1,850 pairs/s)", or null when the
 * run measured no matching ceiling (the ceiling scenario left out by --only).
 */
export function ratioNote(ceilings: Ceiling[], db: Ceiling['db'], label: string, rate: number, match: Matching): string | null {
  const c = ceilingFor(ceilings, db, match);
  if (!c) return null;
  const unit = match.batch === 1 ? 'pairs/s' : 'subtasks/s';
  const ceiling = match.batch === 1 ? c.pairsPerSecond : c.subtasksPerSecond;
  const where =
    match.batch === 1
      ? db === 'sqlite'
        ? 'the raw loop on one connection'
        : `the raw loop at ${c.loops} loop${c.loops > 1 ? 's' : ''}`
      : `the raw loop in batches of ${c.batch}${db === 'sqlite' ? '' : ` at its best (${c.loops} loop${c.loops > 1 ? 's' : ''})`}`;
  return `${label}: ${grouped(rate)} ${unit} = ${(rate / ceiling).toFixed(2)}× ${where} (${grouped(ceiling)} ${unit}, same run)`;
}

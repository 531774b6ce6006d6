/**
 * What the work-path scenarios (ceiling, claims, batched) measure around their timed runs: the statement profile
 * (--pg-private, bench/statement-profile.ts) and a server's CPU per 1,000 subtasks.
 */
import type { BenchContext } from './scenario.ts';
import { profileSummary } from './statement-profile.ts';

/** The name of the database a URL names. */
export const databaseOf = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));

/**
 * Runs `work`, under the statement profile of `databaseUrl`'s statements when the run has one: the profile is
 * kept for the results JSON and the console, its one-line summary goes into the notes.
 */
export async function profiled<T>(
  ctx: BenchContext,
  scenario: string,
  databaseUrl: string | undefined,
  work: () => Promise<T>,
  subtasks: (value: T) => number,
): Promise<T> {
  const profiler = ctx.postgres?.profiler;
  if (!profiler || !databaseUrl) return work();
  const { value, profile } = await profiler.around(scenario, databaseOf(databaseUrl), work, subtasks);
  ctx.statementProfiles.push(profile);
  ctx.notes.push(`statement profile, ${profileSummary(profile)}`);
  return value;
}

/** "server CPU 0.41 s per 1,000 subtasks (87% of a core)": CPU seconds the servers spent over the subtasks done. */
export function cpuPerThousand(cpuSeconds: number, subtasks: number, seconds: number): string {
  return (
    `server CPU ${((cpuSeconds / Math.max(1, subtasks)) * 1000).toFixed(2)} s per 1,000 subtasks ` +
    `(${Math.round((cpuSeconds / seconds) * 100)}% of a core)`
  );
}

// What the swarm commands share: formatting helpers, answer types, and the
// legacy-or-spec id (`swarm leave SWARM_ID` or `--swarm-id SWARM_ID`).
import { UsageError } from '../../failure.ts';
import type { Session } from '../../session.ts';

/** Only the values that are set: a task still running has no completion time, no result, no error. */
export function present(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== null && v !== undefined));
}

/** `0.612` (three decimals); null stays null (shown as "-"). */
export function decimals(v: number | null | undefined, digits = 3): string | null {
  return v === null || v === undefined ? null : v.toFixed(digits);
}

/** At most three decimals, trailing zeros dropped: 0.8, 12.345. */
export function round(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}

export const seconds = (v: number | null | undefined) => (v === null || v === undefined ? null : `${round(v)} s`);
export const percent = (v: number | null | undefined) => (v === null || v === undefined ? null : `${round(v * 100)}%`);

/**
 * The one id given as an argument, as a flag, or both (then they must agree);
 * `usage` is how to give it.
 */
export function oneOf(argument: string | undefined, flag: string | undefined, flagName: string, usage: string): string {
  if (argument !== undefined && flag !== undefined && argument !== flag) {
    throw new UsageError(`${argument} and ${flagName} ${flag} disagree; give one of them`);
  }
  const id = argument ?? flag;
  if (id === undefined || id.trim() === '') throw new UsageError(`missing the ${usage}`);
  return id;
}

/**
 * Answers as the client types them: an `unknown` field (a result, a final
 * answer) is optional there, so these differ from the core schemas' types.
 */
type SwarmProcedures = Session['client']['swarm'];
export type SwarmTaskView = Awaited<ReturnType<SwarmProcedures['task']['query']>>;
export type SwarmConsensusView = Awaited<ReturnType<SwarmProcedures['consensus']['mutate']>>;
export type SwarmMembers = Awaited<ReturnType<SwarmProcedures['members']['query']>>;

/**
 * Stragglers: the settings a network (and a swarm task) has for work
 * stealing and speculative backup copies, and how a status reports the
 * backups. What each strategy allows is in the README ("Stragglers").
 */
import { z } from 'zod';

export const WorkStealing = z
  .boolean()
  .describe('an agent or member with nothing of its own waiting may take another’s unclaimed subtask (default true)');
export const Speculation = z
  .boolean()
  .describe('a subtask running far past its siblings gets a backup copy on an idle assignee; the first result wins (default true)');
export const SpeculationMultiplier = z
  .number()
  .min(1)
  .max(100)
  .describe('a subtask is a straggler once it has run this many times its finished siblings’ median task time (default 3)');
export const SpeculationQuantile = z
  .number()
  .min(0)
  .max(1)
  .describe('the share of the subtasks that must be finished before any backup starts (default 0.75)');

export const StragglerSettings = z.object({
  work_stealing: WorkStealing,
  speculation: Speculation,
  speculation_multiplier: SpeculationMultiplier,
  speculation_quantile: SpeculationQuantile,
});
export type StragglerSettings = z.infer<typeof StragglerSettings>;

/**
 * Stealing is on by default: it only moves work nobody has started, and
 * costs a queue nothing measurable (bench/README.md). Speculation is on by
 * default, conservatively: a worker that heartbeats but never finishes
 * would otherwise hold its execution until the attempt time limit (an
 * hour), and a backup is cheap where it runs, on an assignee that would
 * otherwise sit idle. Conservative: only for a subtask already running 3×
 * its siblings' median (twice Spark's 1.5, so a queue's ordinary spread of
 * task times starts no backups), once 3 in 4 of them are done (Spark's
 * quantile). A backup is a second run of the same work: turn it off where
 * every run is paid for and a stall is better waited out.
 */
export const DEFAULT_STRAGGLER_SETTINGS: StragglerSettings = {
  work_stealing: true,
  speculation: true,
  speculation_multiplier: 3,
  speculation_quantile: 0.75,
};

export const SpeculationView = z
  .object({
    backups_launched: z.number().int().describe('backup copies started for running subtasks'),
    backups_won: z.number().int().describe('backup copies whose result came first (the other copy was cancelled)'),
    time_saved_seconds: z
      .number()
      .describe(
        'an estimate: for each backup that won, how long the copy it beat had already run (a copy that ran t without finishing is taken to need at least t more)',
      ),
  })
  .describe('speculative backup copies of this work so far');
export type SpeculationView = z.infer<typeof SpeculationView>;

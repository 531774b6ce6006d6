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
  .describe('a subtask running far past its siblings gets a backup copy on an idle assignee; the first result wins (default false)');
export const SpeculationMultiplier = z
  .number()
  .min(1)
  .max(100)
  .describe('a subtask is a straggler once it has run this many times its finished siblings’ median task time (default 1.5)');
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
 * costs a queue nothing measurable (bench/README.md). Speculation is off by
 * default, as Spark's spark.speculation: a backup is a second run of work
 * someone pays for, and on PostgreSQL a queue draining at full speed with it
 * on lost leases (bench/README.md, "Left open"). Turned on, a backup only
 * runs on an assignee that would otherwise sit idle, for a subtask already
 * running 1.5× its siblings' median once 3 in 4 of them are done (Spark's
 * multiplier and quantile).
 */
export const DEFAULT_STRAGGLER_SETTINGS: StragglerSettings = {
  work_stealing: true,
  speculation: false,
  speculation_multiplier: 1.5,
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

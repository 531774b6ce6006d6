/**
 * A swarm's performance figures, computed only from what was recorded: its
 * members' attempts at work and its tasks. Nothing is estimated: without
 * history a figure is null and a sample count is zero. Times are seconds
 * rounded to milliseconds, rates are rounded to four decimals (as in the
 * network metrics).
 *
 * - `avg_task_time`: the mean seconds from start to end of the completed
 *   attempts that recorded an end.
 * - `success_rate`: completed tasks over finished tasks (completed, failed
 *   or timed out); cancelled, queued and running tasks are not counted.
 * - `coordination_efficiency`: accepted results over finished attempts
 *   (completed, failed or expired), at most 1: the share of members'
 *   finished work that ended up in a decided result. 1 means no failed,
 *   expired, redundant or dissenting work.
 * - `sample`: the finished tasks and finished attempts the rates are over.
 */

export interface SwarmMetricsInput {
  attempts: { outcome: 'open' | 'completed' | 'failed' | 'expired'; startedAt: Date; endedAt: Date | null }[];
  tasks: { status: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'timed_out' }[];
  /**
   * How many completed attempts produced a result that was used: accepted
   * subtask results, or votes that agreed with the decided consensus.
   */
  acceptedResults: number;
}

export interface SwarmMetrics {
  avg_task_time: number | null;
  success_rate: number | null;
  coordination_efficiency: number | null;
  sample: { tasks: number; attempts: number };
}

/** The counters the server keeps for a swarm (rolling aggregates, counted as events happen). */
export interface SwarmTotals {
  tasksCompleted: number;
  tasksFailed: number;
  tasksTimedOut: number;
  attemptsCompleted: number;
  attemptsFailed: number;
  attemptsExpired: number;
  /** Sum of claim-to-result seconds over completed attempts. */
  taskSeconds: number;
  /** Completed attempts with a recorded end (default: all of them), the count taskSeconds is over. */
  timedAttempts?: number;
  acceptedResults: number;
}

export function swarmMetricsFromTotals(t: SwarmTotals): SwarmMetrics {
  const finishedTasks = t.tasksCompleted + t.tasksFailed + t.tasksTimedOut;
  const finishedAttempts = t.attemptsCompleted + t.attemptsFailed + t.attemptsExpired;
  const efficiency = ratio(Math.max(0, t.acceptedResults), finishedAttempts);
  return {
    avg_task_time: round(ratio(t.taskSeconds, t.timedAttempts ?? t.attemptsCompleted), 3),
    success_rate: round(ratio(t.tasksCompleted, finishedTasks), 4),
    coordination_efficiency: round(efficiency === null ? null : Math.min(1, efficiency), 4),
    sample: { tasks: finishedTasks, attempts: finishedAttempts },
  };
}

/** The same figures from the records themselves (what the totals count). */
export function computeSwarmMetrics(input: SwarmMetricsInput): SwarmMetrics {
  const count = <T>(items: readonly T[], keep: (item: T) => boolean) => items.filter(keep).length;
  const completed = input.attempts.filter((attempt) => attempt.outcome === 'completed');
  const seconds = completed.flatMap((attempt) =>
    attempt.endedAt === null ? [] : [Math.max(0, (attempt.endedAt.getTime() - attempt.startedAt.getTime()) / 1000)],
  );
  return swarmMetricsFromTotals({
    tasksCompleted: count(input.tasks, (task) => task.status === 'completed'),
    tasksFailed: count(input.tasks, (task) => task.status === 'failed'),
    tasksTimedOut: count(input.tasks, (task) => task.status === 'timed_out'),
    attemptsCompleted: completed.length,
    attemptsFailed: count(input.attempts, (attempt) => attempt.outcome === 'failed'),
    attemptsExpired: count(input.attempts, (attempt) => attempt.outcome === 'expired'),
    taskSeconds: seconds.reduce((a, b) => a + b, 0),
    timedAttempts: seconds.length,
    acceptedResults: input.acceptedResults,
  });
}

function ratio(part: number, whole: number): number | null {
  return whole > 0 ? part / whole : null;
}

function round(value: number | null, decimals: number): number | null {
  if (value === null) return null;
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

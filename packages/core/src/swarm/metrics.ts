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

export function computeSwarmMetrics(input: SwarmMetricsInput): SwarmMetrics {
  const finishedTasks = input.tasks.filter((task) => task.status === 'completed' || task.status === 'failed' || task.status === 'timed_out');
  const completedTasks = finishedTasks.filter((task) => task.status === 'completed').length;
  const finishedAttempts = input.attempts.filter((attempt) => attempt.outcome !== 'open');
  const seconds = finishedAttempts
    .filter((attempt) => attempt.outcome === 'completed')
    .flatMap((attempt) => (attempt.endedAt === null ? [] : [Math.max(0, (attempt.endedAt.getTime() - attempt.startedAt.getTime()) / 1000)]));
  const efficiency = ratio(Math.max(0, input.acceptedResults), finishedAttempts.length);
  return {
    avg_task_time: round(mean(seconds), 3),
    success_rate: round(ratio(completedTasks, finishedTasks.length), 4),
    coordination_efficiency: round(efficiency === null ? null : Math.min(1, efficiency), 4),
    sample: { tasks: finishedTasks.length, attempts: finishedAttempts.length },
  };
}

function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

function ratio(part: number, whole: number): number | null {
  return whole > 0 ? part / whole : null;
}

function round(value: number | null, decimals: number): number | null {
  if (value === null) return null;
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

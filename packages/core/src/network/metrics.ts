/**
 * A network's performance figures, computed only from what was recorded:
 * its executions, the attempts its agents made at subtasks, and the
 * current queue. Nothing is estimated: without history a time or rate is
 * null and a count is zero. Times are seconds rounded to milliseconds,
 * rates are rounded to four decimals.
 */
import type { AgentMetrics, NetworkMetrics } from '../schemas/network-metrics.ts';
import type { AgentRecord, AttemptRecord, ExecutionRecord, MetricsInput } from './model.ts';

export function computeNetworkMetrics(input: MetricsInput): NetworkMetrics {
  const finishedExecutions = input.executions.filter(isFinishedExecution);
  const completedExecutions = finishedExecutions.filter((execution) => execution.status === 'completed');
  const executionSeconds = completedExecutions.flatMap((execution) => secondsBetween(execution.createdAt, execution.completedAt));
  const finishedAttempts = input.attempts.filter((attempt) => attempt.outcome !== 'open');
  return {
    avg_execution_time: roundSeconds(mean(executionSeconds)),
    p95_execution_time: roundSeconds(percentile(executionSeconds, 95)),
    success_rate: roundRate(ratio(completedExecutions.length, finishedExecutions.length)),
    throughput: throughputPerMinute(input.completedInWindow, input.windowSeconds),
    throughput_window_seconds: input.windowSeconds,
    avg_task_time: roundSeconds(mean(completedAttemptSeconds(finishedAttempts))),
    queue_depth: input.queueDepth,
    in_flight: input.inFlight,
    disagreement_rate: roundRate(disagreementRate(input.executions)),
    agents: input.agents.map((agent) => agentMetrics(agent, finishedAttempts)),
    sample: { executions: finishedExecutions.length, attempts: finishedAttempts.length },
  };
}

/**
 * The nearest-rank percentile: the smallest value that at least `p` percent
 * of the values are less than or equal to (`p` from 0 to 100). Null for no values.
 */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((Math.min(100, Math.max(0, p)) / 100) * sorted.length);
  return sorted[Math.max(1, rank) - 1]!;
}

/** One agent's attempts in the sample, with its current state. */
function agentMetrics(agent: AgentRecord, finishedAttempts: readonly AttemptRecord[]): AgentMetrics {
  const own = finishedAttempts.filter((attempt) => attempt.agentId === agent.id);
  const completed = own.filter((attempt) => attempt.outcome === 'completed').length;
  const failed = own.filter((attempt) => attempt.outcome === 'failed').length;
  const expired = own.filter((attempt) => attempt.outcome === 'expired').length;
  return {
    agent_id: agent.id,
    name: agent.name,
    live: agent.live,
    last_seen: agent.lastSeen?.toISOString() ?? null,
    open_subtasks: agent.open,
    completed,
    failed,
    expired,
    failure_rate: roundRate(ratio(failed + expired, completed + failed + expired)),
    avg_task_time: roundSeconds(mean(completedAttemptSeconds(own))),
  };
}

/** Executions that reached an end with a verdict: completed or failed (cancelled ones say nothing about the network). */
function isFinishedExecution(execution: ExecutionRecord): boolean {
  return execution.status === 'completed' || execution.status === 'failed';
}

/** Seconds from claim to result of each completed attempt that recorded its end. */
function completedAttemptSeconds(attempts: readonly AttemptRecord[]): number[] {
  return attempts.filter((attempt) => attempt.outcome === 'completed').flatMap((attempt) => secondsBetween(attempt.startedAt, attempt.endedAt));
}

/** `[seconds]` from start to end (never negative, whatever the clocks did), `[]` without an end. */
function secondsBetween(start: Date, end: Date | null): number[] {
  return end === null ? [] : [Math.max(0, (end.getTime() - start.getTime()) / 1000)];
}

/** Replicated subtasks whose replicas disagreed, over all replicated subtasks decided. */
function disagreementRate(executions: readonly ExecutionRecord[]): number | null {
  const decided = executions.reduce((sum, execution) => sum + execution.replicatedDecided, 0);
  const disagreements = executions.reduce((sum, execution) => sum + execution.disagreements, 0);
  const rate = ratio(disagreements, decided);
  return rate === null ? null : Math.min(1, rate);
}

/** Attempts completed per minute over the window; 0 for an empty window. */
function throughputPerMinute(completedInWindow: number, windowSeconds: number): number {
  if (!(windowSeconds > 0)) return 0;
  return round(completedInWindow / (windowSeconds / 60), 4);
}

function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

function ratio(part: number, whole: number): number | null {
  return whole > 0 ? part / whole : null;
}

function roundSeconds(seconds: number | null): number | null {
  return seconds === null ? null : round(seconds, 3);
}

function roundRate(rate: number | null): number | null {
  return rate === null ? null : round(rate, 4);
}

function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

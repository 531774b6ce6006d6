/**
 * A network's performance figures, computed only from what was recorded:
 * its executions, the attempts its agents made at subtasks, and the
 * current queue. Nothing is estimated: without history a time or rate is
 * null and a count is zero. Times are seconds rounded to milliseconds,
 * rates are rounded to four decimals.
 */
import type { AgentMetrics, NetworkMetrics } from '../schemas/network-metrics.ts';
import type { AgentRecord, AttemptRecord, ExecutionRecord, MetricsInput } from './model.ts';

/** Finished attempts of one agent (or of a whole network), and the seconds its completed ones took in all. */
export interface AttemptTotals {
  completed: number;
  failed: number;
  expired: number;
  /** Sum of claim-to-result seconds over the completed attempts. */
  taskSeconds: number;
}

/**
 * What the server keeps as rolling aggregates (counted as events happen),
 * plus the few bounded reads that cannot be counted: the latest completed
 * executions' times for the percentile, and the current queue.
 */
export interface NetworkTotals {
  executionsCompleted: number;
  executionsFailed: number;
  /** Sum of submission-to-completion seconds over completed executions. */
  executionSeconds: number;
  /** Seconds of the latest completed executions (bounded), for p95. */
  recentExecutionSeconds: number[];
  replicatedDecided: number;
  disagreements: number;
  /** Every agent's attempts in this network, those that left it included. */
  attempts: AttemptTotals;
  /** The network's agents in network order, with their attempts here. */
  agents: (AgentRecord & AttemptTotals)[];
  completedInWindow: number;
  windowSeconds: number;
  queueDepth: number;
  inFlight: number;
}

export function networkMetricsFromTotals(t: NetworkTotals): NetworkMetrics {
  const finishedExecutions = t.executionsCompleted + t.executionsFailed;
  const finishedAttempts = t.attempts.completed + t.attempts.failed + t.attempts.expired;
  const disagreement = ratio(t.disagreements, t.replicatedDecided);
  return {
    avg_execution_time: roundSeconds(ratio(t.executionSeconds, t.executionsCompleted)),
    p95_execution_time: roundSeconds(percentile(t.recentExecutionSeconds, 95)),
    success_rate: roundRate(ratio(t.executionsCompleted, finishedExecutions)),
    throughput: throughputPerMinute(t.completedInWindow, t.windowSeconds),
    throughput_window_seconds: t.windowSeconds,
    avg_task_time: roundSeconds(ratio(t.attempts.taskSeconds, t.attempts.completed)),
    queue_depth: t.queueDepth,
    in_flight: t.inFlight,
    disagreement_rate: roundRate(disagreement === null ? null : Math.min(1, disagreement)),
    agents: t.agents.map(agentMetrics),
    sample: { executions: finishedExecutions, attempts: finishedAttempts },
  };
}

/** The same figures from the records themselves (what the totals count). */
export function computeNetworkMetrics(input: MetricsInput): NetworkMetrics {
  const finishedExecutions = input.executions.filter(isFinishedExecution);
  const completedExecutions = finishedExecutions.filter((execution) => execution.status === 'completed');
  const executionSeconds = completedExecutions.flatMap((execution) => secondsBetween(execution.createdAt, execution.completedAt));
  const finishedAttempts = input.attempts.filter((attempt) => attempt.outcome !== 'open');
  return networkMetricsFromTotals({
    executionsCompleted: completedExecutions.length,
    executionsFailed: finishedExecutions.length - completedExecutions.length,
    executionSeconds: sum(executionSeconds),
    recentExecutionSeconds: executionSeconds,
    replicatedDecided: input.executions.reduce((total, execution) => total + execution.replicatedDecided, 0),
    disagreements: input.executions.reduce((total, execution) => total + execution.disagreements, 0),
    attempts: attemptTotals(finishedAttempts),
    agents: input.agents.map((agent) => ({
      ...agent,
      ...attemptTotals(finishedAttempts.filter((attempt) => attempt.agentId === agent.id)),
    })),
    completedInWindow: input.completedInWindow,
    windowSeconds: input.windowSeconds,
    queueDepth: input.queueDepth,
    inFlight: input.inFlight,
  });
}

function attemptTotals(attempts: readonly AttemptRecord[]): AttemptTotals {
  return {
    completed: attempts.filter((attempt) => attempt.outcome === 'completed').length,
    failed: attempts.filter((attempt) => attempt.outcome === 'failed').length,
    expired: attempts.filter((attempt) => attempt.outcome === 'expired').length,
    taskSeconds: sum(completedAttemptSeconds(attempts)),
  };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
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

/** One agent's attempts, with its current state. */
function agentMetrics(agent: AgentRecord & AttemptTotals): AgentMetrics {
  const { completed, failed, expired } = agent;
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
    avg_task_time: roundSeconds(ratio(agent.taskSeconds, completed)),
  };
}

/** Executions that reached an end with a verdict: completed or failed (cancelled ones say nothing about the network). */
function isFinishedExecution(execution: ExecutionRecord): boolean {
  return execution.status === 'completed' || execution.status === 'failed';
}

/** Seconds from claim to result of each completed attempt that recorded its end. */
function completedAttemptSeconds(attempts: readonly AttemptRecord[]): number[] {
  return attempts
    .filter((attempt) => attempt.outcome === 'completed')
    .flatMap((attempt) => secondsBetween(attempt.startedAt, attempt.endedAt));
}

/** `[seconds]` from start to end (never negative, whatever the clocks did), `[]` without an end. */
function secondsBetween(start: Date, end: Date | null): number[] {
  return end === null ? [] : [Math.max(0, (end.getTime() - start.getTime()) / 1000)];
}

/** Attempts completed per minute over the window; 0 for an empty window. */
function throughputPerMinute(completedInWindow: number, windowSeconds: number): number {
  if (!(windowSeconds > 0)) return 0;
  return round(completedInWindow / (windowSeconds / 60), 4);
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

import { z } from 'zod';
import { IsoDateTime } from './common.ts';
import { NetworkIdParam, NetworkStatus } from './network.ts';
import { VerificationView } from './verification.ts';

const Seconds = z.number().nonnegative().nullable();
const Rate = z.number().min(0).max(1).nullable();

export const AgentMetrics = z.object({
  agent_id: z.string(),
  name: z.string().nullable().describe('null when the agent was deleted after joining the network'),
  live: z.boolean().describe('seen within the network’s claim timeout and not offline'),
  last_seen: IsoDateTime.nullable(),
  open_subtasks: z.number().int().describe('assigned or leased to it now'),
  completed: z.number().int().describe('attempts it completed, in the sample'),
  failed: z.number().int().describe('attempts it reported as failed'),
  expired: z.number().int().describe('attempts whose lease ran out'),
  failure_rate: Rate.describe('(failed + expired) / finished attempts; null with none'),
  avg_task_time: Seconds.describe('mean seconds from claim to result over its completed attempts'),
});
export type AgentMetrics = z.infer<typeof AgentMetrics>;

/**
 * Every figure is computed from recorded executions and subtask attempts;
 * with no history the rates and times are null and the counts are zero.
 */
export const NetworkMetrics = z.object({
  avg_execution_time: Seconds.describe('mean seconds from submission to completion, completed executions in the sample'),
  p95_execution_time: Seconds.describe('95th percentile of the same'),
  success_rate: Rate.describe('completed / (completed + failed) executions in the sample'),
  throughput: z.number().nonnegative().describe('subtask attempts completed per minute over the window'),
  throughput_window_seconds: z.number().int(),
  avg_task_time: Seconds.describe('mean seconds from claim to result over completed attempts in the sample'),
  queue_depth: z.number().int().describe('subtasks waiting to be claimed'),
  in_flight: z.number().int().describe('subtasks leased to a worker now'),
  disagreement_rate: Rate.describe('replicated subtasks whose replicas did not all agree / replicated subtasks decided'),
  agents: z.array(AgentMetrics),
  sample: z.object({
    executions: z.number().int().describe('finished executions the execution figures come from (most recent first, bounded)'),
    attempts: z.number().int().describe('finished attempts the task figures come from (most recent first, bounded)'),
  }),
});
export type NetworkMetrics = z.infer<typeof NetworkMetrics>;
export const NETWORK_METRIC_NAMES = Object.keys(NetworkMetrics.shape) as (keyof NetworkMetrics)[];

export const NetworkStatusQuery = NetworkIdParam.extend({
  metrics: z
    .string()
    .max(500)
    .optional()
    .describe(`comma-separated subset of performance_metrics (${NETWORK_METRIC_NAMES.join(', ')}); "all" or absent for every one`),
  window_seconds: z.coerce
    .number()
    .int()
    .min(1)
    .max(30 * 86_400)
    .default(3600)
    .describe('throughput window'),
});

export const NetworkStatusView = z.object({
  network_id: z.string(),
  name: z.string(),
  status: NetworkStatus,
  agent_count: z.number().int(),
  active_tasks: z.number().int().describe('executions queued or running'),
  total_executions: z.number().int(),
  performance_metrics: NetworkMetrics.partial(),
  verification: VerificationView.describe('the network’s verified work in all, under its current policy and earlier ones'),
  last_activity: IsoDateTime.nullable().describe('latest execution or attempt event; the network’s own update time without any'),
});
export type NetworkStatusView = z.infer<typeof NetworkStatusView>;

export const OBJECTIVES = ['speed', 'efficiency', 'cost', 'quality'] as const;
export const Objective = z.enum(OBJECTIVES);
export type Objective = z.infer<typeof Objective>;

export const RECOMMENDATION_TYPES = [
  'replace_agent',
  'switch_strategy',
  'shrink_network',
  'grow_network',
  'raise_replication',
  'lower_replication',
] as const;

export const Recommendation = z.object({
  type: z.enum(RECOMMENDATION_TYPES),
  description: z.string(),
  impact: z.enum(['high', 'medium', 'low']),
  expected_impact: z
    .object({
      metric: z.string(),
      current: z.number().nullable(),
      expected: z.number().nullable(),
    })
    .describe('the metric this should move, from what to what, estimated from the same records'),
  evidence: z.record(z.string(), z.unknown()).describe('the measured figures that triggered it'),
  action: z
    .record(z.string(), z.unknown())
    .describe('how to apply it: a body for PATCH /api/v1/agents/networks/{id}, or for grow_network the number of agents to add'),
});
export type Recommendation = z.infer<typeof Recommendation>;

export const OptimizeQuery = NetworkIdParam.extend({ objective: Objective.default('efficiency') });
export const OptimizeRequest = NetworkIdParam.extend({ objective: Objective.default('efficiency') });

export const NetworkOptimizationView = z.object({
  network_id: z.string(),
  optimization_type: Objective.describe('the objective the recommendations are ranked for'),
  recommendations: z.array(Recommendation),
  performance_metrics: NetworkMetrics,
  optimized_at: IsoDateTime,
});
export type NetworkOptimizationView = z.infer<typeof NetworkOptimizationView>;

/**
 * Recommendations for a network, read from its measured metrics only. Each
 * one carries the figures that triggered it (`evidence`), the metric it
 * should move with the current and expected value computed from the same
 * figures (`expected_impact`), and the update that applies it (`action`, a
 * PATCH body for the network). A network with no history gets none: there
 * is nothing to read a recommendation from.
 *
 * The rules, with the thresholds in {@link OPTIMIZE_THRESHOLDS}:
 * - `replace_agent`: an agent with enough finished attempts that fails (or
 *   lets its lease expire) too often. Never the network's last agent.
 * - `switch_strategy`: round-robin while the load is skewed (open subtasks
 *   piled on a few agents, or completed work spread very unevenly); the
 *   least-loaded strategy follows the actual load.
 * - `shrink_network`: nothing is queued and some agents neither did any of
 *   the sampled work nor hold any now.
 * - `grow_network`: more work is queued than the live agents can take in
 *   two rounds (this includes work waiting with no live agent at all).
 * - `raise_replication`: hybrid replicas disagree often; more of them must agree.
 * - `lower_replication` (cost and efficiency only): replicas never disagreed
 *   over a large enough sample, so fewer replicas would do.
 *
 * They are ordered by what the objective cares about most
 * ({@link RECOMMENDATION_ORDER}), then by impact (high, medium, low).
 */
import type { CoordinationStrategy, NetworkSettings } from '../schemas/network.ts';
import type { AgentMetrics, NetworkMetrics, Objective, Recommendation } from '../schemas/network-metrics.ts';

export type RecommendationType = Recommendation['type'];

export interface RecommendationContext {
  strategy: CoordinationStrategy;
  settings: NetworkSettings;
  /** The network's agent ids, in network order. */
  agents: string[];
}

/** Every threshold the rules use. */
export const OPTIMIZE_THRESHOLDS = {
  replaceAgent: {
    /** Finished attempts (completed, failed, expired) an agent needs before it is judged. */
    minFinishedAttempts: 5,
    /** Share of its finished attempts that failed or expired at which an agent should go. */
    failureRate: 0.25,
    /** From this failure rate on, replacing it is high impact. */
    highImpactFailureRate: 0.5,
  },
  switchStrategy: {
    /** Agents needed for a balance to matter. */
    minAgents: 2,
    /** Open subtasks between the busiest and the idlest agent that count as skew… */
    minOpenSpread: 3,
    /** …when the busiest also holds more than this many times the mean. */
    maxOverMeanOpen: 2,
    /** Coefficient of variation (σ / mean) of per-agent completed attempts that counts as skew… */
    completedVariation: 0.5,
    /** …once at least this many attempts completed in the sample. */
    minCompletedForVariation: 10,
  },
  shrinkNetwork: {
    /** Agents needed before one can go (the last one always stays). */
    minAgents: 2,
    /** Finished attempts in the sample needed to call an agent idle. */
    minSampleAttempts: 1,
  },
  growNetwork: {
    /** Queued subtasks per live agent from which the network should grow; also the target after growing. */
    queuePerLiveAgent: 2,
  },
  raiseReplication: {
    /** Disagreement rate from which hybrid should ask more replicas to agree. */
    disagreementRate: 0.1,
  },
  lowerReplication: {
    /**
     * Finished attempts the sample must hold, with a disagreement rate of
     * exactly 0, before fewer replicas are suggested. The metrics do not say
     * how many replicated subtasks were decided, so the attempts bound it.
     */
    minSampleAttempts: 20,
  },
} as const;

/** For each objective, the recommendation types in the order they are listed. */
export const RECOMMENDATION_ORDER: Readonly<Record<Objective, readonly RecommendationType[]>> = {
  speed: ['grow_network', 'switch_strategy', 'replace_agent', 'raise_replication', 'shrink_network', 'lower_replication'],
  quality: ['replace_agent', 'raise_replication', 'switch_strategy', 'grow_network', 'shrink_network', 'lower_replication'],
  cost: ['shrink_network', 'lower_replication', 'replace_agent', 'switch_strategy', 'grow_network', 'raise_replication'],
  efficiency: ['switch_strategy', 'shrink_network', 'replace_agent', 'lower_replication', 'grow_network', 'raise_replication'],
};

const IMPACT_ORDER: Readonly<Record<Recommendation['impact'], number>> = { high: 0, medium: 1, low: 2 };

export function recommend(metrics: NetworkMetrics, context: RecommendationContext, objective: Objective): Recommendation[] {
  if (metrics.sample.executions === 0 && metrics.sample.attempts === 0) return [];
  const found = [
    ...replaceAgents(metrics, context),
    ...switchStrategy(metrics, context),
    ...shrinkNetwork(metrics, context, objective),
    ...growNetwork(metrics, objective),
    ...raiseReplication(metrics, context, objective),
    ...lowerReplication(metrics, context, objective),
  ];
  return rankFor(objective, found);
}

/** Stable sort: the objective's order of types, then impact. */
function rankFor(objective: Objective, recommendations: Recommendation[]): Recommendation[] {
  const order = RECOMMENDATION_ORDER[objective];
  return [...recommendations].sort(
    (a, b) => order.indexOf(a.type) - order.indexOf(b.type) || IMPACT_ORDER[a.impact] - IMPACT_ORDER[b.impact],
  );
}

// ---------------------------------------------------------------- replace_agent

/**
 * Agents with at least `minFinishedAttempts` finished attempts of which at
 * least `failureRate` failed or expired. The expected impact is the
 * network-wide attempt failure rate with and without the agent's attempts.
 * If every agent of the network qualifies, the one failing least is kept.
 */
function replaceAgents(metrics: NetworkMetrics, context: RecommendationContext): Recommendation[] {
  const limits = OPTIMIZE_THRESHOLDS.replaceAgent;
  let failing = metrics.agents.filter(
    (agent) =>
      context.agents.includes(agent.agent_id) &&
      finishedAttempts(agent) >= limits.minFinishedAttempts &&
      failureRate(agent) >= limits.failureRate,
  );
  if (failing.length > 0 && context.agents.every((id) => failing.some((agent) => agent.agent_id === id))) {
    const best = failing.reduce((kept, agent) => (failureRate(agent) < failureRate(kept) ? agent : kept));
    failing = failing.filter((agent) => agent !== best);
  }
  const current = networkFailureRate(metrics.agents);
  return failing.map((agent) => {
    const rate = failureRate(agent);
    const unsuccessful = agent.failed + agent.expired;
    return {
      type: 'replace_agent',
      description:
        `Agent ${label(agent)} failed ${unsuccessful} of ${finishedAttempts(agent)} attempts (${percent(rate)}: ` +
        `${agent.failed} failed, ${agent.expired} expired); remove or replace it.`,
      impact: rate >= limits.highImpactFailureRate ? 'high' : 'medium',
      expected_impact: {
        metric: 'attempt_failure_rate',
        current,
        expected: networkFailureRate(metrics.agents.filter((other) => other !== agent)),
      },
      evidence: {
        agent_id: agent.agent_id,
        name: agent.name,
        completed: agent.completed,
        failed: agent.failed,
        expired: agent.expired,
        failure_rate: round(rate, 4),
      },
      action: { agents: context.agents.filter((id) => id !== agent.agent_id) },
    };
  });
}

/** (Σ failed + Σ expired) / Σ finished attempts over the agents; null without any. */
function networkFailureRate(agents: readonly AgentMetrics[]): number | null {
  const finished = agents.reduce((sum, agent) => sum + finishedAttempts(agent), 0);
  const unsuccessful = agents.reduce((sum, agent) => sum + agent.failed + agent.expired, 0);
  return finished > 0 ? round(unsuccessful / finished, 4) : null;
}

// ---------------------------------------------------------------- switch_strategy

/**
 * Round-robin hands out turns regardless of load. It should give way to
 * least-loaded when the load is skewed: the busiest agent holds at least
 * `minOpenSpread` more open subtasks than the idlest and more than
 * `maxOverMeanOpen` times the mean, or (with enough completed attempts)
 * the per-agent completed counts vary by a coefficient of variation of at
 * least `completedVariation`. Expected: the busiest agent's open subtasks
 * drop to an even share.
 */
function switchStrategy(metrics: NetworkMetrics, context: RecommendationContext): Recommendation[] {
  const limits = OPTIMIZE_THRESHOLDS.switchStrategy;
  if (context.strategy !== 'round-robin' || metrics.agents.length < limits.minAgents) return [];
  const open = metrics.agents.map((agent) => agent.open_subtasks);
  const maxOpen = Math.max(...open);
  const minOpen = Math.min(...open);
  const meanOpen = mean(open);
  const openSkewed = maxOpen - minOpen >= limits.minOpenSpread && maxOpen > limits.maxOverMeanOpen * meanOpen;
  const completed = metrics.agents.map((agent) => agent.completed);
  const totalCompleted = completed.reduce((a, b) => a + b, 0);
  const variation = totalCompleted > 0 ? standardDeviation(completed) / mean(completed) : null;
  const completedSkewed = variation !== null && totalCompleted >= limits.minCompletedForVariation && variation >= limits.completedVariation;
  if (!openSkewed && !completedSkewed) return [];
  const totalOpen = open.reduce((a, b) => a + b, 0);
  const findings = [
    ...(openSkewed ? [`open subtasks range from ${minOpen} to ${maxOpen} per agent (mean ${round(meanOpen, 2)})`] : []),
    ...(completedSkewed ? [`completed attempts vary by ${percent(variation)} of their mean across agents`] : []),
  ];
  return [
    {
      type: 'switch_strategy',
      description: `Round-robin leaves the load uneven: ${findings.join(' and ')}; switch to least-loaded.`,
      impact: 'medium',
      expected_impact: { metric: 'max_open_subtasks', current: maxOpen, expected: Math.ceil(totalOpen / metrics.agents.length) },
      evidence: {
        agents: metrics.agents.map((agent) => ({
          agent_id: agent.agent_id,
          open_subtasks: agent.open_subtasks,
          completed: agent.completed,
        })),
        open_spread: maxOpen - minOpen,
        mean_open: round(meanOpen, 4),
        completed_cv: variation === null ? null : round(variation, 4),
      },
      action: { coordination_strategy: 'least-loaded' },
    },
  ];
}

// ---------------------------------------------------------------- shrink_network

/**
 * With nothing queued, agents that finished none of the sampled attempts
 * and hold no open subtask are idle and can leave. At least one agent stays.
 */
function shrinkNetwork(metrics: NetworkMetrics, context: RecommendationContext, objective: Objective): Recommendation[] {
  const limits = OPTIMIZE_THRESHOLDS.shrinkNetwork;
  if (context.agents.length < limits.minAgents || metrics.queue_depth !== 0 || metrics.sample.attempts < limits.minSampleAttempts)
    return [];
  let idle = metrics.agents.filter(
    (agent) => context.agents.includes(agent.agent_id) && finishedAttempts(agent) === 0 && agent.open_subtasks === 0,
  );
  if (context.agents.every((id) => idle.some((agent) => agent.agent_id === id))) {
    idle = idle.filter((agent) => agent.agent_id !== context.agents[0]);
  }
  if (idle.length === 0) return [];
  const idleIds = idle.map((agent) => agent.agent_id);
  const n = context.agents.length;
  return [
    {
      type: 'shrink_network',
      description:
        `${count(idle.length, 'agent')} of ${n} (${idle.map(label).join(', ')}) did none of the last ` +
        `${count(metrics.sample.attempts, 'attempt')} and ${idle.length === 1 ? 'holds' : 'hold'} no work, with nothing queued; remove ${idle.length === 1 ? 'it' : 'them'}.`,
      impact: objective === 'cost' || objective === 'efficiency' ? 'medium' : 'low',
      expected_impact: { metric: 'agent_count', current: n, expected: n - idle.length },
      evidence: { idle_agents: idleIds, queue_depth: metrics.queue_depth, sample_attempts: metrics.sample.attempts },
      action: { agents: context.agents.filter((id) => !idleIds.includes(id)) },
    },
  ];
}

// ---------------------------------------------------------------- grow_network

/**
 * At least `queuePerLiveAgent` queued subtasks per live agent (any queue
 * with no live agent): suggest enough agents to bring the queue down to
 * that many per live agent. The suggestion is not a network field: the
 * owner registers the agents and adds their ids.
 */
function growNetwork(metrics: NetworkMetrics, objective: Objective): Recommendation[] {
  const perAgent = OPTIMIZE_THRESHOLDS.growNetwork.queuePerLiveAgent;
  const live = metrics.agents.filter((agent) => agent.live).length;
  const queued = metrics.queue_depth;
  if (queued <= 0 || queued < perAgent * live) return [];
  const additional = Math.max(1, Math.ceil(queued / perAgent) - live);
  const absent = metrics.agents.length - live;
  return [
    {
      type: 'grow_network',
      description:
        `${count(queued, 'subtask')} ${queued === 1 ? 'is' : 'are'} waiting for ${count(live, 'live agent')}` +
        `${absent > 0 ? ` (${absent} of the network's agents ${absent === 1 ? 'is' : 'are'} not live)` : ''}; ` +
        `add ${count(additional, 'agent')}.`,
      impact: objective === 'speed' ? 'high' : 'medium',
      expected_impact: {
        metric: 'queue_depth_per_live_agent',
        current: live > 0 ? round(queued / live, 4) : null,
        expected: round(queued / (live + additional), 4),
      },
      evidence: { queue_depth: queued, live_agents: live, agents: metrics.agents.length, in_flight: metrics.in_flight },
      action: { suggested_additional_agents: additional },
    },
  ];
}

// ---------------------------------------------------------------- raise_replication

/**
 * Hybrid replicas disagree on at least `disagreementRate` of the replicated
 * subtasks: require one more agreeing replica, when the settings allow it
 * and the network has an agent for it. How much fewer wrong results would
 * get through cannot be read from the records, so `expected` stays null.
 */
function raiseReplication(metrics: NetworkMetrics, context: RecommendationContext, objective: Objective): Recommendation[] {
  const rate = metrics.disagreement_rate;
  const { replication, max_replication } = context.settings;
  if (context.strategy !== 'hybrid' || rate === null || rate < OPTIMIZE_THRESHOLDS.raiseReplication.disagreementRate) return [];
  if (replication >= max_replication || replication >= context.agents.length) return [];
  return [
    {
      type: 'raise_replication',
      description: `Replicas disagreed on ${percent(rate)} of replicated subtasks; require ${replication + 1} agreeing replicas instead of ${replication}.`,
      impact: objective === 'quality' ? 'high' : 'medium',
      expected_impact: { metric: 'disagreement_rate', current: rate, expected: null },
      evidence: { disagreement_rate: rate, replication, max_replication, agents: context.agents.length },
      action: { replication: replication + 1 },
    },
  ];
}

// ---------------------------------------------------------------- lower_replication

/**
 * For cost or efficiency: replicas never disagreed (a disagreement rate of
 * exactly 0) over at least `minSampleAttempts` finished attempts, so fewer
 * replicas would do. Hybrid runs one replica fewer; decentralized, which
 * runs one per eligible agent (counted as the live agents, or all when none
 * is live), becomes hybrid with 2. Only when that really means fewer replicas.
 */
function lowerReplication(metrics: NetworkMetrics, context: RecommendationContext, objective: Objective): Recommendation[] {
  if (objective !== 'cost' && objective !== 'efficiency') return [];
  if (metrics.disagreement_rate !== 0 || metrics.sample.attempts < OPTIMIZE_THRESHOLDS.lowerReplication.minSampleAttempts) return [];
  const n = context.agents.length;
  const evidence = { disagreement_rate: metrics.disagreement_rate, sample_attempts: metrics.sample.attempts };
  if (context.strategy === 'hybrid') {
    const { replication } = context.settings;
    const current = Math.min(replication, n);
    const expected = Math.min(replication - 1, n);
    if (replication <= 1 || expected >= current) return [];
    return [
      {
        type: 'lower_replication',
        description: `Replicas agreed on every replicated subtask over the last ${count(metrics.sample.attempts, 'attempt')}; run ${expected} replicas per subtask instead of ${current}.`,
        impact: 'medium',
        expected_impact: { metric: 'replicas_per_subtask', current, expected },
        evidence: { ...evidence, replication },
        action: { replication: replication - 1 },
      },
    ];
  }
  if (context.strategy === 'decentralized') {
    const live = metrics.agents.filter((agent) => agent.live).length;
    const current = live > 0 ? live : n;
    const expected = Math.min(2, n);
    if (expected >= current) return [];
    return [
      {
        type: 'lower_replication',
        description: `All ${current} agents run every subtask and agreed every time over the last ${count(metrics.sample.attempts, 'attempt')}; switch to hybrid with 2 agreeing replicas.`,
        impact: 'medium',
        expected_impact: { metric: 'replicas_per_subtask', current, expected },
        evidence: { ...evidence, replicas_per_subtask: current },
        action: { coordination_strategy: 'hybrid', replication: 2 },
      },
    ];
  }
  return [];
}

// ---------------------------------------------------------------- figures and wording

function finishedAttempts(agent: AgentMetrics): number {
  return agent.completed + agent.failed + agent.expired;
}

/** Computed from the counts rather than the rounded `failure_rate`; 0 without attempts. */
function failureRate(agent: AgentMetrics): number {
  const finished = finishedAttempts(agent);
  return finished > 0 ? (agent.failed + agent.expired) / finished : 0;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Population standard deviation. */
function standardDeviation(values: readonly number[]): number {
  const average = mean(values);
  return Math.sqrt(mean(values.map((value) => (value - average) ** 2)));
}

function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

function percent(rate: number | null): string {
  return `${Math.round((rate ?? 0) * 100)}%`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function label(agent: AgentMetrics): string {
  return agent.name ?? agent.agent_id;
}

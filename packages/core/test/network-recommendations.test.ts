import { describe, expect, it } from 'vitest';
import {
  type AgentMetrics,
  type CoordinationStrategy,
  DEFAULT_NETWORK_SETTINGS,
  type NetworkMetrics,
  type NetworkSettings,
  type Objective,
  Recommendation,
  recommend,
} from '../src/index.ts';

function agent(agent_id: string, overrides: Partial<AgentMetrics> = {}): AgentMetrics {
  return {
    agent_id,
    name: agent_id,
    live: true,
    last_seen: null,
    open_subtasks: 0,
    completed: 5,
    failed: 0,
    expired: 0,
    failure_rate: 0,
    avg_task_time: 1,
    ...overrides,
  };
}

function metrics(agents: AgentMetrics[], overrides: Partial<NetworkMetrics> = {}): NetworkMetrics {
  return {
    avg_execution_time: 10,
    p95_execution_time: 20,
    success_rate: 1,
    throughput: 1,
    throughput_window_seconds: 3600,
    avg_task_time: 1,
    queue_depth: 0,
    in_flight: 0,
    disagreement_rate: null,
    agents,
    sample: { executions: 5, attempts: agents.reduce((sum, a) => sum + a.completed + a.failed + a.expired, 0) },
    ...overrides,
  };
}

function context(strategy: CoordinationStrategy, agents: AgentMetrics[], settings: Partial<NetworkSettings> = {}) {
  return { strategy, settings: { ...DEFAULT_NETWORK_SETTINGS, ...settings }, agents: agents.map((a) => a.agent_id) };
}

function run(m: NetworkMetrics, strategy: CoordinationStrategy, objective: Objective, settings: Partial<NetworkSettings> = {}) {
  const found = recommend(m, context(strategy, m.agents, settings), objective);
  for (const recommendation of found) expect(Recommendation.parse(recommendation)).toEqual(recommendation);
  return found;
}

const types = (found: Recommendation[]) => found.map((r) => r.type);

describe('recommend', () => {
  it('says nothing about a network without history', () => {
    const m = metrics([agent('a', { completed: 0, failed: 9 }), agent('b')], { queue_depth: 50, sample: { executions: 0, attempts: 0 } });
    for (const objective of ['speed', 'quality', 'cost', 'efficiency'] as const) expect(run(m, 'round-robin', objective)).toEqual([]);
  });

  it('says nothing about a healthy, balanced network', () => {
    const m = metrics([agent('a'), agent('b')], { disagreement_rate: 0.05 });
    for (const objective of ['speed', 'quality', 'cost', 'efficiency'] as const) {
      expect(run(m, 'round-robin', objective)).toEqual([]);
      expect(run(m, 'hybrid', objective)).toEqual([]);
    }
  });

  describe('replace_agent', () => {
    it('flags an agent failing at least a quarter of enough attempts, with the failure rate it would remove', () => {
      const m = metrics([agent('a', { completed: 10 }), agent('gpu-2', { completed: 6, failed: 3, expired: 1 })]);
      const [found] = run(m, 'least-loaded', 'quality');
      expect(found).toEqual({
        type: 'replace_agent',
        description: 'Agent gpu-2 failed 4 of 10 attempts (40%: 3 failed, 1 expired); remove or replace it.',
        impact: 'medium',
        expected_impact: { metric: 'attempt_failure_rate', current: 0.2, expected: 0 },
        evidence: { agent_id: 'gpu-2', name: 'gpu-2', completed: 6, failed: 3, expired: 1, failure_rate: 0.4 },
        action: { agents: ['a'] },
      });
    });

    it('is high impact from a failure rate of one half', () => {
      const m = metrics([agent('a'), agent('b', { completed: 3, failed: 3 })]);
      expect(run(m, 'least-loaded', 'quality')[0]).toMatchObject({ type: 'replace_agent', impact: 'high' });
    });

    it('needs enough attempts and a high enough failure rate', () => {
      expect(run(metrics([agent('a'), agent('b', { completed: 1, failed: 3 })]), 'least-loaded', 'quality')).toEqual([]);
      expect(run(metrics([agent('a'), agent('b', { completed: 8, failed: 2 })]), 'least-loaded', 'quality')).toEqual([]);
    });

    it('never removes the last agent, and keeps the best when all are failing', () => {
      expect(run(metrics([agent('a', { failed: 5 })]), 'least-loaded', 'quality')).toEqual([]);
      const found = run(metrics([agent('a', { failed: 5 }), agent('b', { failed: 2 })]), 'least-loaded', 'quality');
      expect(found.map((r) => r.evidence['agent_id'])).toEqual(['a']);
    });
  });

  describe('switch_strategy', () => {
    it('suggests least-loaded when round-robin piles open subtasks on one agent', () => {
      const m = metrics([agent('a', { open_subtasks: 9 }), agent('b'), agent('c')]);
      const [found] = run(m, 'round-robin', 'efficiency');
      expect(found).toMatchObject({
        type: 'switch_strategy',
        impact: 'medium',
        expected_impact: { metric: 'max_open_subtasks', current: 9, expected: 3 },
        evidence: { open_spread: 9, mean_open: 3 },
        action: { coordination_strategy: 'least-loaded' },
      });
      expect(found!.description).toContain('from 0 to 9');
    });

    it('suggests it when completed work is spread very unevenly', () => {
      const m = metrics([agent('a', { completed: 20 }), agent('b', { completed: 2 }), agent('c', { completed: 2 })]);
      const [found] = run(m, 'round-robin', 'efficiency');
      expect(found).toMatchObject({ type: 'switch_strategy', evidence: { completed_cv: 1.0607 } });
    });

    it('needs round-robin, two agents and real skew', () => {
      const skewed = metrics([agent('a', { open_subtasks: 9 }), agent('b'), agent('c')]);
      expect(run(skewed, 'least-loaded', 'efficiency')).toEqual([]);
      expect(run(metrics([agent('a', { open_subtasks: 9 })]), 'round-robin', 'efficiency')).toEqual([]);
      expect(
        run(
          metrics([agent('a', { open_subtasks: 4 }), agent('b', { open_subtasks: 2 }), agent('c', { open_subtasks: 3 })]),
          'round-robin',
          'efficiency',
        ),
      ).toEqual([]);
      // uneven completions, but too few to judge
      expect(
        run(
          metrics([agent('a', { completed: 7 }), agent('b', { completed: 1 }), agent('c', { completed: 1 })]),
          'round-robin',
          'efficiency',
        ),
      ).toEqual([]);
    });
  });

  describe('shrink_network', () => {
    const m = metrics([agent('a'), agent('b', { completed: 0 }), agent('c', { completed: 0, open_subtasks: 1 })]);

    it('removes agents that did no sampled work and hold none while nothing is queued', () => {
      const [found] = run(m, 'least-loaded', 'cost');
      expect(found).toMatchObject({
        type: 'shrink_network',
        impact: 'medium',
        expected_impact: { metric: 'agent_count', current: 3, expected: 2 },
        evidence: { idle_agents: ['b'], queue_depth: 0 },
        action: { agents: ['a', 'c'] },
      });
      expect(run(m, 'least-loaded', 'speed')[0]).toMatchObject({ type: 'shrink_network', impact: 'low' });
    });

    it('needs an empty queue and some sampled attempts, and keeps one agent', () => {
      expect(run({ ...m, queue_depth: 1 }, 'least-loaded', 'cost')).toEqual([]);
      expect(run({ ...m, sample: { executions: 3, attempts: 0 } }, 'least-loaded', 'cost')).toEqual([]);
      const allIdle = metrics([agent('a', { completed: 0 }), agent('b', { completed: 0 })], { sample: { executions: 1, attempts: 4 } });
      expect(run(allIdle, 'least-loaded', 'cost')[0]).toMatchObject({ action: { agents: ['a'] }, evidence: { idle_agents: ['b'] } });
    });
  });

  describe('grow_network', () => {
    it('suggests enough agents to bring the queue to two per live agent', () => {
      const m = metrics([agent('a'), agent('b'), agent('c', { live: false })], { queue_depth: 10 });
      const [found] = run(m, 'least-loaded', 'speed');
      expect(found).toEqual({
        type: 'grow_network',
        description: "10 subtasks are waiting for 2 live agents (1 of the network's agents is not live); add 3 agents.",
        impact: 'high',
        expected_impact: { metric: 'queue_depth_per_live_agent', current: 5, expected: 2 },
        evidence: { queue_depth: 10, live_agents: 2, agents: 3, in_flight: 0 },
        action: { suggested_additional_agents: 3 },
      });
      expect(run(m, 'least-loaded', 'cost')[0]).toMatchObject({ type: 'grow_network', impact: 'medium' });
    });

    it('covers work waiting with no live agent', () => {
      const m = metrics([agent('a', { live: false })], { queue_depth: 1 });
      expect(run(m, 'least-loaded', 'speed')[0]).toMatchObject({
        type: 'grow_network',
        expected_impact: { current: null, expected: 1 },
        action: { suggested_additional_agents: 1 },
      });
    });

    it('stays quiet while the live agents keep up', () => {
      expect(run(metrics([agent('a'), agent('b')], { queue_depth: 3 }), 'least-loaded', 'speed')).toEqual([]);
    });
  });

  describe('replication', () => {
    const twoDisagree = metrics([agent('a'), agent('b'), agent('c')], { disagreement_rate: 0.2 });

    it('raises hybrid replication when replicas disagree often', () => {
      const [found] = run(twoDisagree, 'hybrid', 'quality');
      expect(found).toMatchObject({
        type: 'raise_replication',
        impact: 'high',
        expected_impact: { metric: 'disagreement_rate', current: 0.2, expected: null },
        action: { replication: 3 },
      });
      expect(run(twoDisagree, 'hybrid', 'speed')[0]).toMatchObject({ type: 'raise_replication', impact: 'medium' });
    });

    it('does not raise it beyond max_replication or the agents, for other strategies or rare disagreement', () => {
      expect(run(twoDisagree, 'hybrid', 'quality', { replication: 4, max_replication: 4 })).toEqual([]);
      expect(run(twoDisagree, 'hybrid', 'quality', { replication: 3, max_replication: 4 })).toEqual([]);
      expect(run(twoDisagree, 'decentralized', 'quality')).toEqual([]);
      expect(run({ ...twoDisagree, disagreement_rate: 0.09 }, 'hybrid', 'quality')).toEqual([]);
    });

    const agreeing = metrics(
      ['a', 'b', 'c', 'd'].map((id) => agent(id)),
      { disagreement_rate: 0 },
    );

    it('lowers replication for cost when replicas always agreed over enough attempts', () => {
      expect(run(agreeing, 'hybrid', 'cost', { replication: 3 })[0]).toMatchObject({
        type: 'lower_replication',
        expected_impact: { metric: 'replicas_per_subtask', current: 3, expected: 2 },
        action: { replication: 2 },
      });
      expect(run(agreeing, 'decentralized', 'efficiency')[0]).toMatchObject({
        type: 'lower_replication',
        expected_impact: { metric: 'replicas_per_subtask', current: 4, expected: 2 },
        action: { coordination_strategy: 'hybrid', replication: 2 },
      });
    });

    it('does not lower it for speed or quality, with too few attempts, any disagreement, or nothing to lower', () => {
      expect(run(agreeing, 'hybrid', 'speed', { replication: 3 })).toEqual([]);
      expect(run(agreeing, 'decentralized', 'quality')).toEqual([]);
      expect(run({ ...agreeing, sample: { executions: 5, attempts: 19 } }, 'hybrid', 'cost', { replication: 3 })).toEqual([]);
      expect(run({ ...agreeing, disagreement_rate: 0.01 }, 'hybrid', 'cost', { replication: 3 })).toEqual([]);
      expect(run({ ...agreeing, disagreement_rate: null }, 'hybrid', 'cost', { replication: 3 })).toEqual([]);
      expect(run(agreeing, 'hybrid', 'cost', { replication: 1 })).toEqual([]);
      expect(run(agreeing, 'hybrid', 'cost', { replication: 6, max_replication: 8 })).toEqual([]);
      expect(run(metrics([agent('a', { completed: 20 }), agent('b')], { disagreement_rate: 0 }), 'decentralized', 'cost')).toEqual([]);
    });
  });

  describe('ordering', () => {
    // round-robin, work queued: replace_agent, switch_strategy and grow_network all apply
    const busy = metrics(
      [agent('a', { open_subtasks: 12 }), agent('b', { completed: 1, failed: 4, open_subtasks: 0 }), agent('c', { live: false })],
      { queue_depth: 20 },
    );
    // hybrid, nothing queued: replace_agent, shrink_network and raise_replication apply
    const quiet = metrics([agent('a'), agent('b', { completed: 2, failed: 3 }), agent('c', { completed: 0 })], { disagreement_rate: 0.3 });

    it('follows the objective', () => {
      expect(types(run(busy, 'round-robin', 'speed'))).toEqual(['grow_network', 'switch_strategy', 'replace_agent']);
      expect(types(run(busy, 'round-robin', 'quality'))).toEqual(['replace_agent', 'switch_strategy', 'grow_network']);
      expect(types(run(busy, 'round-robin', 'efficiency'))).toEqual(['switch_strategy', 'replace_agent', 'grow_network']);
      expect(types(run(quiet, 'hybrid', 'quality'))).toEqual(['replace_agent', 'raise_replication', 'shrink_network']);
      expect(types(run(quiet, 'hybrid', 'cost'))).toEqual(['shrink_network', 'replace_agent', 'raise_replication']);
      expect(types(run(quiet, 'hybrid', 'efficiency'))).toEqual(['shrink_network', 'replace_agent', 'raise_replication']);
    });

    it('puts higher impact first among recommendations of one type', () => {
      const m = metrics([agent('a', { completed: 7, failed: 3 }), agent('b', { completed: 4, failed: 6 }), agent('c')]);
      expect(run(m, 'least-loaded', 'quality').map((r) => [r.evidence['agent_id'], r.impact])).toEqual([
        ['b', 'high'],
        ['a', 'medium'],
      ]);
    });
  });
});

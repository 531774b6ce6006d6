import { describe, expect, it } from 'vitest';
import {
  type AttemptRecord,
  computeNetworkMetrics,
  type ExecutionRecord,
  type MetricsInput,
  NetworkMetrics,
  percentile,
} from '../src/index.ts';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

function execution(status: ExecutionRecord['status'], seconds: number | null, replicatedDecided = 0, disagreements = 0): ExecutionRecord {
  return { status, createdAt: T0, completedAt: seconds === null ? null : at(seconds), replicatedDecided, disagreements };
}

function attempt(agentId: string, outcome: AttemptRecord['outcome'], seconds: number | null): AttemptRecord {
  return { agentId, outcome, startedAt: at(100), endedAt: seconds === null ? null : at(100 + seconds) };
}

const empty: MetricsInput = {
  executions: [],
  attempts: [],
  agents: [{ id: 'a1', name: 'one', open: 0, live: false, lastSeen: null }],
  completedInWindow: 0,
  windowSeconds: 3600,
  queueDepth: 0,
  inFlight: 0,
};

describe('percentile', () => {
  it('is the nearest-rank percentile, null without values', () => {
    expect(percentile([], 95)).toBeNull();
    expect(percentile([5], 95)).toBe(5);
    expect(
      percentile(
        Array.from({ length: 20 }, (_, i) => 20 - i),
        95,
      ),
    ).toBe(19);
    expect(percentile([4, 1, 3, 2], 50)).toBe(2);
    expect(percentile([4, 1, 3, 2], 100)).toBe(4);
    expect(percentile([4, 1, 3, 2], 0)).toBe(1);
  });
});

describe('computeNetworkMetrics', () => {
  it('reports nulls and zeros without history, never an invented value', () => {
    const metrics = computeNetworkMetrics(empty);
    expect(NetworkMetrics.parse(metrics)).toEqual(metrics);
    expect(metrics).toEqual({
      avg_execution_time: null,
      p95_execution_time: null,
      success_rate: null,
      throughput: 0,
      throughput_window_seconds: 3600,
      avg_task_time: null,
      queue_depth: 0,
      in_flight: 0,
      disagreement_rate: null,
      agents: [
        {
          agent_id: 'a1',
          name: 'one',
          live: false,
          last_seen: null,
          open_subtasks: 0,
          completed: 0,
          failed: 0,
          expired: 0,
          failure_rate: null,
          avg_task_time: null,
        },
      ],
      sample: { executions: 0, attempts: 0 },
    });
  });

  it('computes the figures of a hand-built history exactly', () => {
    const metrics = computeNetworkMetrics({
      executions: [
        execution('completed', 10, 4, 1),
        execution('completed', 20),
        execution('completed', 30),
        execution('failed', 5),
        execution('running', null, 4, 0),
        execution('cancelled', 1),
      ],
      attempts: [
        attempt('a1', 'completed', 2),
        attempt('a1', 'completed', 4),
        attempt('a1', 'failed', 1),
        attempt('a1', 'expired', 30),
        attempt('a1', 'open', null),
        attempt('a2', 'completed', 1.5),
        attempt('gone', 'completed', 3),
      ],
      agents: [
        { id: 'a1', name: 'one', open: 2, live: true, lastSeen: at(200) },
        { id: 'a2', name: null, open: 0, live: false, lastSeen: at(50) },
        { id: 'a4', name: 'four', open: 1, live: true, lastSeen: null },
      ],
      completedInWindow: 30,
      windowSeconds: 600,
      queueDepth: 7,
      inFlight: 3,
    });
    expect(NetworkMetrics.parse(metrics)).toEqual(metrics);
    expect(metrics).toMatchObject({
      avg_execution_time: 20,
      p95_execution_time: 30,
      success_rate: 0.75,
      throughput: 3,
      throughput_window_seconds: 600,
      avg_task_time: 2.625,
      queue_depth: 7,
      in_flight: 3,
      disagreement_rate: 0.125,
      sample: { executions: 4, attempts: 6 },
    });
    expect(metrics.agents).toEqual([
      {
        agent_id: 'a1',
        name: 'one',
        live: true,
        last_seen: '2026-01-01T00:03:20.000Z',
        open_subtasks: 2,
        completed: 2,
        failed: 1,
        expired: 1,
        failure_rate: 0.5,
        avg_task_time: 3,
      },
      {
        agent_id: 'a2',
        name: null,
        live: false,
        last_seen: '2026-01-01T00:00:50.000Z',
        open_subtasks: 0,
        completed: 1,
        failed: 0,
        expired: 0,
        failure_rate: 0,
        avg_task_time: 1.5,
      },
      {
        agent_id: 'a4',
        name: 'four',
        live: true,
        last_seen: null,
        open_subtasks: 1,
        completed: 0,
        failed: 0,
        expired: 0,
        failure_rate: null,
        avg_task_time: null,
      },
    ]);
  });

  it('rounds times to milliseconds and rates to four decimals', () => {
    const metrics = computeNetworkMetrics({
      ...empty,
      executions: [execution('completed', 1 / 3), execution('failed', 1), execution('failed', 1)],
      attempts: [attempt('a1', 'completed', 0.0004), attempt('a1', 'failed', 1), attempt('a1', 'failed', 1)],
      completedInWindow: 1,
      windowSeconds: 7,
    });
    expect(metrics.avg_execution_time).toBe(0.333);
    expect(metrics.success_rate).toBe(0.3333);
    expect(metrics.avg_task_time).toBe(0);
    expect(metrics.agents[0]!.failure_rate).toBe(0.6667);
    expect(metrics.throughput).toBe(8.5714);
  });
});

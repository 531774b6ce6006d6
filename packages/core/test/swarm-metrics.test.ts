import { describe, expect, it } from 'vitest';
import { computeSwarmMetrics, type SwarmMetricsInput } from '../src/index.ts';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

type Attempt = SwarmMetricsInput['attempts'][number];
type Task = SwarmMetricsInput['tasks'][number];

function attempt(outcome: Attempt['outcome'], seconds: number | null): Attempt {
  return { outcome, startedAt: at(10), endedAt: seconds === null ? null : at(10 + seconds) };
}

function tasks(...statuses: Task['status'][]): Task[] {
  return statuses.map((status) => ({ status }));
}

describe('computeSwarmMetrics', () => {
  it('reports nulls and zeros without history', () => {
    expect(computeSwarmMetrics({ attempts: [], tasks: [], acceptedResults: 0 })).toEqual({
      avg_task_time: null,
      success_rate: null,
      coordination_efficiency: null,
      sample: { tasks: 0, attempts: 0 },
    });
  });

  it('leaves out open attempts and unfinished or cancelled tasks', () => {
    expect(
      computeSwarmMetrics({ attempts: [attempt('open', null)], tasks: tasks('queued', 'running', 'cancelled'), acceptedResults: 0 }),
    ).toEqual({ avg_task_time: null, success_rate: null, coordination_efficiency: null, sample: { tasks: 0, attempts: 0 } });
  });

  it('computes mean completed time, success rate and coordination efficiency', () => {
    const metrics = computeSwarmMetrics({
      attempts: [
        attempt('completed', 2),
        attempt('completed', 4),
        attempt('completed', 6),
        attempt('completed', null), // completed without a recorded end: counted, but not timed
        attempt('failed', 100),
        attempt('expired', 50),
        attempt('open', null),
      ],
      tasks: tasks('completed', 'completed', 'completed', 'failed', 'timed_out', 'cancelled', 'running'),
      acceptedResults: 3,
    });
    expect(metrics).toEqual({
      avg_task_time: 4,
      success_rate: 0.6,
      coordination_efficiency: 0.5,
      sample: { tasks: 5, attempts: 6 },
    });
  });

  it('rounds, and caps efficiency at 1', () => {
    const metrics = computeSwarmMetrics({
      attempts: [attempt('completed', 1), attempt('completed', 1.0005), attempt('failed', 1)],
      tasks: tasks('completed', 'completed', 'failed'),
      acceptedResults: 2,
    });
    expect(metrics.avg_task_time).toBe(1);
    expect(metrics.success_rate).toBe(0.6667);
    expect(metrics.coordination_efficiency).toBe(0.6667);
    expect(computeSwarmMetrics({ attempts: [attempt('completed', 1)], tasks: [], acceptedResults: 5 }).coordination_efficiency).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { memberWorkState, taskProgress } from '../src/index.ts';

const task = { strategy: 'consensus' as const, status: 'running' as const, collaborators: 3, subtaskCount: 3, decidedCount: 0 };

describe('task progress', () => {
  it('counts votes in against the members a voting task expects, or its subtasks when more were made', () => {
    expect(taskProgress(task, ['completed', 'leased', 'assigned'])).toBe(33.3);
    expect(taskProgress(task, ['completed', 'failed', 'cancelled', 'completed'])).toBe(100);
    // A replacement member's subtask: four live subtasks, two in.
    expect(taskProgress(task, ['completed', 'failed', 'leased', 'assigned'])).toBe(50);
    expect(taskProgress({ ...task, collaborators: 0 }, [])).toBe(0);
  });

  it('counts subtasks decided for the other strategies, and a completed task is 100', () => {
    const map = { ...task, strategy: 'map-reduce' as const, subtaskCount: 8, decidedCount: 3 };
    expect(taskProgress(map, [])).toBe(37.5);
    expect(taskProgress({ ...map, subtaskCount: 0 }, [])).toBe(0);
    expect(taskProgress({ ...map, status: 'completed' }, [])).toBe(100);
  });
});

describe('a member’s state for a task', () => {
  it('takes the first of working, assigned, done, failed, cancelled, reassigned that its subtasks show', () => {
    expect(memberWorkState(['completed', 'leased'])).toBe('working');
    expect(memberWorkState(['completed', 'pending'])).toBe('assigned');
    expect(memberWorkState(['failed', 'completed'])).toBe('done');
    expect(memberWorkState(['failed', 'cancelled'])).toBe('failed');
    expect(memberWorkState(['cancelled', 'cancelled'])).toBe('cancelled');
    expect(memberWorkState([])).toBe('reassigned');
  });
});

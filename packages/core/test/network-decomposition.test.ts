import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decomposeTask, NetworkTask } from '../src/index.ts';

describe('decomposeTask', () => {
  it('splits items into chunk_size chunks with their offsets, and no params key without params', () => {
    const subtasks = decomposeTask({ items: ['a', 'b', 'c', 'd', 'e'], chunk_size: 2 }, 10);
    expect(subtasks).toEqual([
      { seq: 0, payload: { items: ['a', 'b'], offset: 0 }, requires: [] },
      { seq: 1, payload: { items: ['c', 'd'], offset: 2 }, requires: [] },
      { seq: 2, payload: { items: ['e'], offset: 4 }, requires: [] },
    ]);
    for (const subtask of subtasks) expect(Object.keys(subtask.payload as object)).toEqual(['items', 'offset']);
  });

  it('passes params to every chunk, even a falsy one, and the task requires to every subtask', () => {
    const task = NetworkTask.parse({ items: [1, 2, 3], chunk_size: 2, params: 0, requires: ['GPU '] });
    expect(decomposeTask(task, 1)).toEqual([
      { seq: 0, payload: { items: [1, 2], offset: 0, params: 0 }, requires: ['gpu'] },
      { seq: 1, payload: { items: [3], offset: 2, params: 0 }, requires: ['gpu'] },
    ]);
  });

  it('by default makes one balanced chunk per agent', () => {
    const items = Array.from({ length: 10 }, (_, i) => i);
    expect(decomposeTask({ items }, 3).map((s) => (s.payload as { items: unknown[] }).items.length)).toEqual([4, 4, 2]);
    expect(decomposeTask({ items }, 5).map((s) => (s.payload as { items: unknown[] }).items.length)).toEqual([2, 2, 2, 2, 2]);
    expect(decomposeTask({ items }, 0)).toHaveLength(1);
    expect(decomposeTask({ items: [1, 2] }, 8)).toHaveLength(2);
  });

  it('keeps every item exactly once, in order, with correct offsets', () => {
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue(), { minLength: 1, maxLength: 200 }),
        fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
        fc.nat(12),
        (items, chunkSize, agentCount) => {
          const subtasks = decomposeTask({ items, chunk_size: chunkSize }, agentCount);
          const chunks = subtasks.map((s) => s.payload as { items: unknown[]; offset: number });
          expect(subtasks.map((s) => s.seq)).toEqual(subtasks.map((_, i) => i));
          expect(chunks.flatMap((chunk) => chunk.items)).toEqual(items);
          let offset = 0;
          for (const chunk of chunks) {
            expect(chunk.offset).toBe(offset);
            expect(chunk.items.length).toBeGreaterThan(0);
            offset += chunk.items.length;
          }
          const size = chunkSize ?? Math.ceil(items.length / Math.max(1, agentCount));
          expect(chunks.slice(0, -1).every((chunk) => chunk.items.length === size)).toBe(true);
          if (chunkSize === undefined) expect(chunks.length).toBeLessThanOrEqual(Math.max(1, agentCount));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('sends explicit subtasks as given, each with its own normalised requires or the task’s', () => {
    const own = { op: 'render', requires: [' GPU', 'gpu', 'llm'] };
    const task = NetworkTask.parse({ subtasks: [own, { op: 'plain' }, 'text', [1]], requires: ['cpu'], items: [1, 2] });
    const subtasks = decomposeTask(task, 2);
    expect(subtasks).toEqual([
      { seq: 0, payload: own, requires: ['gpu', 'llm'] },
      { seq: 1, payload: { op: 'plain' }, requires: ['cpu'] },
      { seq: 2, payload: 'text', requires: ['cpu'] },
      { seq: 3, payload: [1], requires: ['cpu'] },
    ]);
    expect(subtasks[0]!.payload).toBe(task.subtasks![0]);
  });

  it('the task schema refuses a subtask whose requires is not a list of tags, naming the path', () => {
    const r = NetworkTask.safeParse({ subtasks: [{ requires: ['gpu'] }, { requires: 'gpu' }, { requires: ['ok', 'not ok'] }] });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toEqual(['subtasks.1.requires', 'subtasks.2.requires.1']);
  });

  it('rejects a subtask tag that is not a capability, pointing at it', () => {
    expect(() => decomposeTask({ subtasks: [{}, { requires: ['ok', 'not ok'] }] }, 1)).toThrow(
      expect.objectContaining({ name: 'ZodError', issues: [expect.objectContaining({ path: ['subtasks', 1, 'requires', 1] })] }),
    );
  });

  it('makes one subtask of any other task, without the control keys', () => {
    const task = NetworkTask.parse({ prompt: 'hi', params: { t: 1 }, chunk_size: 3, reduce: 'concat', requires: ['llm'] });
    expect(decomposeTask(task, 4)).toEqual([{ seq: 0, payload: { prompt: 'hi', params: { t: 1 }, chunk_size: 3 }, requires: ['llm'] }]);
    expect(decomposeTask({}, 4)).toEqual([{ seq: 0, payload: {}, requires: [] }]);
  });

  it('does not share the requires array between subtasks or with the task', () => {
    const task = NetworkTask.parse({ items: [1, 2], chunk_size: 1, requires: ['gpu'] });
    const [a, b] = decomposeTask(task, 1);
    a!.requires.push('x');
    expect(b!.requires).toEqual(['gpu']);
    expect(task.requires).toEqual(['gpu']);
  });
});

// The task shapes as a typed client writes them (z.input of the execute
// request), against what the server accepts at run time (any JSON object, as
// the legacy CLI sends a task file). The @ts-expect-error lines are the test of
// the types: `pnpm typecheck` fails if one of them is accepted after all.
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ExecuteRequest, NetworkTask } from '../src/index.ts';

type Execute = z.input<typeof ExecuteRequest>;
type Task = Execute['task'];

const typed = {
  items: { items: [1, 2, 3], chunk_size: 2, params: { scale: 2 }, reduce: 'sum', requires: ['gpu'] },
  subtasks: { subtasks: [{ op: 'a', requires: ['gpu'] }, 'b'], reduce: 'concat' },
  custom: { prompt: 'hi', temperature: 0.2, reduce: 'majority', requires: ['llm'] },
  empty: {},
} satisfies Record<string, Task>;

describe('the execute request’s task, as a typed client writes it', () => {
  it('takes the three shapes the server knows, and a file read as JSON', () => {
    const fromFile: Record<string, unknown> = JSON.parse('{"prompt": "from a file"}');
    const request: Execute = { network_id: 'n1', task: fromFile };
    expect(ExecuteRequest.parse(request).task).toEqual({ prompt: 'from a file' });
    for (const [name, task] of Object.entries(typed)) expect(NetworkTask.safeParse(task).success, name).toBe(true);
  });

  it('rejects misspelt control keys and values at compile time', () => {
    const wrong: Task[] = [
      // @ts-expect-error chunkSize is not a key of an items task (chunk_size is)
      { items: [1, 2], chunkSize: 1 },
      // @ts-expect-error not a reducer
      { items: [1, 2], reduce: 'summ' },
      // @ts-expect-error items is a list
      { items: 3 },
      // @ts-expect-error chunk_size is a number
      { items: [1], chunk_size: '2' },
      // @ts-expect-error an items task has no subtasks (subtasks would win, and items be passed over)
      { items: [1], subtasks: [1] },
      // @ts-expect-error requires is a list of tags
      { subtasks: [1], requires: 'gpu' },
    ];
    expect(wrong).toHaveLength(6);
  });

  it('still accepts at run time whatever it accepted before (the REST contract: any JSON object)', () => {
    // What a typed client may not write, a task file over REST still may: extra keys are kept, and ignored where they steer nothing.
    for (const task of [
      { items: [1, 2], chunkSize: 1 },
      { items: [1], subtasks: [2] },
      { prompt: 'x', chunk_size: 3 },
    ]) {
      const parsed = NetworkTask.safeParse(task);
      expect(parsed.success, JSON.stringify(task)).toBe(true);
      expect(parsed.data).toEqual(task);
    }
    // …and refuses what it refused before.
    for (const task of [{ items: [] }, { items: [1], chunk_size: 0 }, { items: [1], reduce: 'summ' }, 'text', [1]])
      expect(NetworkTask.safeParse(task).success, JSON.stringify(task)).toBe(false);
  });
});

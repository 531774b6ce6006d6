import type { z } from 'zod';

/**
 * Limits on the free-form JSON a request may carry (tasks, parameters,
 * results). docs/limits.md lists them with every other limit.
 */

/** Deepest nesting of objects and arrays in a task, its parameters or a result (the value itself is depth 1). */
export const MAX_JSON_DEPTH = 32;
/** Largest task (network task, or coordination task plus parameters), as compact JSON text. */
export const MAX_TASK_BYTES = 1024 * 1024;
/** Largest subtask result, as compact JSON text. */
export const MAX_RESULT_BYTES = 1024 * 1024;
/** Largest work that is copied to many subtasks: a network task's `params` (into every chunk), a swarm task's work (to every member or chunk). */
export const MAX_COPIED_BYTES = 64 * 1024;

/**
 * How deeply `value` nests (a scalar is 1, `[]` and `{}` are 1, `[[]]` is 2),
 * stopping early once past `stopAt`. Iterative: hostile input cannot
 * exhaust the stack, as a recursive walk (or JSON.stringify) would.
 */
export function jsonDepth(value: unknown, stopAt = Number.POSITIVE_INFINITY): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > deepest) deepest = depth;
    if (deepest > stopAt) return deepest;
    if (v === null || typeof v !== 'object') continue;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return deepest;
}

/** Bytes of `value`'s compact JSON text (UTF-8). Call only on values within MAX_JSON_DEPTH. */
export function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value);
  if (text === undefined) return 0;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

const sizeText = (bytes: number) => (bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`);

/**
 * Adds an issue at `path` when `value` nests deeper than MAX_JSON_DEPTH or
 * its JSON is larger than `maxBytes`. Returns false when it did.
 */
export function checkJson(value: unknown, maxBytes: number, ctx: z.RefinementCtx, path: PropertyKey[], what: string): boolean {
  if (value === undefined) return true;
  if (jsonDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    ctx.addIssue({
      code: 'custom',
      path,
      message: `${what} nests deeper than ${MAX_JSON_DEPTH} levels (the limit; see docs/limits.md)`,
      params: { limit: 'depth' },
    });
    return false;
  }
  const bytes = jsonBytes(value);
  if (bytes > maxBytes) {
    ctx.addIssue({
      code: 'custom',
      path,
      message: `${what} is ${bytes} bytes of JSON; the limit is ${sizeText(maxBytes)} (see docs/limits.md)`,
      params: { limit: 'size' },
    });
    return false;
  }
  return true;
}

/**
 * `items` split by `chunk_size` must not make more subtasks than `maxChunks`
 * (without chunk_size there is one chunk per agent or member).
 */
export function checkChunks(
  task: { items?: unknown[] | undefined; chunk_size?: number | undefined },
  maxChunks: number,
  ctx: z.RefinementCtx,
): void {
  if (!task.items || task.chunk_size === undefined) return;
  const chunks = Math.ceil(task.items.length / task.chunk_size);
  if (chunks > maxChunks) {
    ctx.addIssue({
      code: 'custom',
      path: ['chunk_size'],
      message: `${task.items.length} items in chunks of ${task.chunk_size} make ${chunks} subtasks; the limit is ${maxChunks} per task (raise chunk_size)`,
      params: { limit: 'subtasks' },
    });
  }
}

/**
 * Whether a Zod issue is a limit (a string's or list's length, or one of the
 * checks above) rather than a wrong value. The server may answer such input
 * with 422 rather than 400 (see docs/limits.md).
 */
export function isLimitIssue(issue: { code: string; origin?: string; params?: Record<string, unknown> }): boolean {
  return (
    (issue.code === 'too_big' && (issue.origin === 'string' || issue.origin === 'array')) ||
    (issue.code === 'custom' && issue.params?.['limit'] !== undefined)
  );
}

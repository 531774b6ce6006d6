/**
 * How a task becomes subtasks. A task is any JSON object; three shapes are
 * understood, tried in this order:
 *
 * 1. `subtasks: [...]`: each element is one subtask, sent to its worker
 *    exactly as given. An object element may name its own `requires`.
 *    When a task has both `subtasks` and `items`, `subtasks` wins and
 *    `items` is passed over.
 * 2. `items: [...]`: the items are split, in order, into chunks of
 *    `chunk_size` items (by default as few chunks as the network has
 *    agents, equally sized but for the last); each chunk is sent as
 *    `{items, offset, params}`, `offset` being the index of its first item.
 * 3. anything else: one subtask whose payload is the whole task less the
 *    control keys `reduce` and `requires`.
 *
 * The task's own `requires` applies to every subtask without one of its own.
 */
import { z } from 'zod';
import { Capability } from '../schemas/agent.ts';
import type { NetworkTask } from '../schemas/network.ts';
import type { PlannedSubtask } from './model.ts';

/** Keys that steer the coordination and are not part of a whole-task payload. */
const CONTROL_KEYS: ReadonlySet<string> = new Set(['reduce', 'requires']);

/** A subtask's own `requires`: capability tags, normalised like an agent's (trimmed, lower-case, unique). */
const SubtaskRequires = z
  .array(Capability)
  .max(32)
  .transform((tags) => [...new Set(tags)]);

export function decomposeTask(task: NetworkTask, agentCount: number): PlannedSubtask[] {
  const requires = task.requires ?? [];
  if (task.subtasks !== undefined) return explicitSubtasks(task.subtasks, requires);
  if (task.items !== undefined) return itemChunks(task, agentCount, requires);
  return [{ seq: 0, payload: wholeTaskPayload(task), requires: [...requires] }];
}

/** One subtask per element, payload untouched; an element's own `requires` replaces the task's. */
function explicitSubtasks(elements: unknown[], taskRequires: string[]): PlannedSubtask[] {
  return elements.map((element, seq) => ({
    seq,
    payload: element,
    requires: ownRequires(element, seq) ?? [...taskRequires],
  }));
}

/**
 * The normalised `requires` of an element that is a plain object with a
 * `requires` array, undefined otherwise. An invalid tag throws a ZodError
 * whose path points at it (`subtasks.3.requires.1`), as schema validation would.
 */
function ownRequires(element: unknown, seq: number): string[] | undefined {
  if (!isPlainObject(element) || !Array.isArray(element['requires'])) return undefined;
  const parsed = SubtaskRequires.safeParse(element['requires']);
  if (parsed.success) return parsed.data;
  throw new z.ZodError(parsed.error.issues.map((issue) => ({ ...issue, path: ['subtasks', seq, 'requires', ...issue.path] })));
}

/** Consecutive chunks of the items, each remembering where it starts. */
function itemChunks(task: NetworkTask, agentCount: number, requires: string[]): PlannedSubtask[] {
  const items = task.items ?? [];
  const size = chunkSize(items.length, task.chunk_size, agentCount);
  const subtasks: PlannedSubtask[] = [];
  for (let offset = 0; offset < items.length; offset += size) {
    const payload: Record<string, unknown> = { items: items.slice(offset, offset + size), offset };
    if (task.params !== undefined) payload['params'] = task.params;
    subtasks.push({ seq: subtasks.length, payload, requires: [...requires] });
  }
  return subtasks;
}

/** The task's `chunk_size`, or by default the size that makes one chunk per agent. Always at least 1. */
function chunkSize(itemCount: number, requested: number | undefined, agentCount: number): number {
  const agents = Number.isFinite(agentCount) ? Math.max(1, Math.floor(agentCount)) : 1;
  const size = requested ?? Math.ceil(itemCount / agents);
  return Number.isFinite(size) ? Math.max(1, Math.floor(size)) : Math.max(1, itemCount);
}

/** The whole task as one payload, without the keys meant for the coordinator. */
function wholeTaskPayload(task: NetworkTask): Record<string, unknown> {
  return Object.fromEntries(Object.entries(task).filter(([key]) => !CONTROL_KEYS.has(key)));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

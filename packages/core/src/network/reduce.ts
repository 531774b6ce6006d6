/**
 * Reducers a task may name in `reduce` to fold its subtasks' results (in
 * task order) into one value:
 *
 * - `concat`: one list; a result that is an array contributes its elements,
 *   any other result is one element.
 * - `sum`: the total; a result is a number or an array of numbers. Anything
 *   else, or a total that is not a finite number, is an error.
 * - `count`: how many elements; an array counts its length, anything else 1.
 * - `majority`: the most common result (compared by canonical JSON; a tie
 *   goes to the one seen first) as `{value, count, total}`.
 *
 * A reduction that cannot be done returns an error message instead of a
 * value; the subtask results themselves stay available.
 */
import type { ExecutionResults, Reducer } from '../schemas/network.ts';
import { canonicalJson } from './canonical.ts';

export type Reduction = { value: unknown } | { error: string };

/**
 * What an execution (or a map-reduce task) answers once every subtask is
 * decided: the subtask results in task order, and their reduction when the
 * task names a reducer (its value, or why it could not be done).
 */
export function executionResults(subtaskResults: unknown[], reducer: Reducer | null): ExecutionResults {
  const reduction = reducer ? reduceResults(reducer, subtaskResults) : null;
  return {
    subtask_results: subtaskResults,
    reduce: reducer,
    ...(reduction && 'value' in reduction ? { reduced: reduction.value } : {}),
    reduce_error: reduction && 'error' in reduction ? reduction.error : null,
  };
}

export function reduceResults(reducer: Reducer, results: unknown[]): Reduction {
  switch (reducer) {
    case 'concat':
      return { value: results.flatMap((result) => (Array.isArray(result) ? result : [result])) };
    case 'sum':
      return sum(results);
    case 'count':
      return { value: results.reduce<number>((count, result) => count + (Array.isArray(result) ? result.length : 1), 0) };
    case 'majority':
      return majority(results);
  }
}

function sum(results: readonly unknown[]): Reduction {
  let total = 0;
  for (const [position, result] of results.entries()) {
    const addend = numericValue(result);
    if (addend === undefined) {
      return { error: `sum: subtask ${position} returned ${describe(result)}, not a number or an array of numbers` };
    }
    total += addend;
  }
  if (!Number.isFinite(total)) return { error: 'sum: the total is not a finite number' };
  return { value: total };
}

/** A number, or the sum of an array of numbers; undefined for anything else. */
function numericValue(result: unknown): number | undefined {
  if (isNumber(result)) return result;
  if (Array.isArray(result) && result.every(isNumber)) return result.reduce((a: number, b: number) => a + b, 0);
  return undefined;
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && !Number.isNaN(value);
}

/** "a string", "an object", "an array containing a boolean", … for error messages. */
function describe(value: unknown): string {
  if (!Array.isArray(value)) return kindOf(value);
  return `an array containing ${kindOf(value.find((element) => !isNumber(element)))}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return 'NaN';
  const kind = typeof value;
  return `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind}`;
}

function majority(results: readonly unknown[]): Reduction {
  if (results.length === 0) return { error: 'majority: there are no results' };
  const tallies = new Map<string, { value: unknown; count: number }>();
  for (const result of results) {
    const key = canonicalJson(result);
    const tally = tallies.get(key);
    if (tally) tally.count += 1;
    else tallies.set(key, { value: result, count: 1 });
  }
  // Map iteration follows first appearance, so a strict comparison keeps the first of equals.
  let winner = { value: undefined as unknown, count: 0 };
  for (const tally of tallies.values()) if (tally.count > winner.count) winner = tally;
  return { value: { value: winner.value, count: winner.count, total: results.length } };
}

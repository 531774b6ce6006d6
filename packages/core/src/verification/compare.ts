/**
 * Comparing results (README "Verification"). A comparator is chosen per
 * network or task from a fixed set; no user code runs on the server.
 *
 * - `exact`: equal canonical JSON (sorted keys): what replicas and votes were
 *   always compared by.
 * - `set`: as exact, after every array (at any depth) is made a set: its
 *   elements sorted by their canonical JSON and repeats dropped, so order and
 *   repeats do not matter.
 * - `numeric`: the same shape (the same keys, arrays of the same length, equal
 *   strings, booleans and nulls), and every pair of numbers within tolerance:
 *   |a − b| ≤ max(absolute, relative × max(|a|, |b|)).
 *
 * Grouping (which results agree): each result, in the order given (replica
 * order), joins the first group whose first result it agrees with, else
 * starts one. Exact and set agreement is an equivalence, so the groups are
 * the same in any order; numeric agreement within a tolerance is not
 * transitive, and the first result of a group is its reference.
 */
import type { Comparator } from '../schemas/verification.ts';
import { canonicalJson } from '../network/canonical.ts';

export interface ComparatorSettings {
  comparator: Comparator;
  relative_tolerance: number;
  absolute_tolerance: number;
}

/** Every array made a set (sorted by canonical JSON, repeats dropped), at any depth. */
export function asSets(value: unknown): unknown {
  if (Array.isArray(value)) {
    const byText = new Map<string, unknown>();
    for (const element of value) {
      const normal = asSets(element);
      byText.set(canonicalJson(normal), normal);
    }
    return [...byText.keys()].sort().map((text) => byText.get(text));
  }
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, asSets(v)]));
  return value;
}

/**
 * The text exact and set comparisons agree on (equal texts, agreeing
 * results); numeric comparison has none (its agreement is pairwise).
 */
export function comparisonText(result: unknown, comparator: Comparator): string | null {
  if (comparator === 'numeric') return null;
  return canonicalJson(comparator === 'set' ? asSets(result) : result);
}

/** Whether two numbers are within tolerance: |a − b| ≤ max(absolute, relative × max(|a|, |b|)). */
export function withinTolerance(a: number, b: number, relative: number, absolute: number): boolean {
  if (a === b) return true;
  const scale = Math.max(Math.abs(a), Math.abs(b));
  return Math.abs(a - b) <= Math.max(absolute, relative * scale);
}

/** Plain JSON data (what a stored result is): toJSON applied, undefined dropped. */
const asJson = (value: unknown): unknown => JSON.parse(canonicalJson(value));

function numericEqual(a: unknown, b: unknown, relative: number, absolute: number): boolean {
  if (typeof a === 'number' && typeof b === 'number') return withinTolerance(a, b, relative, absolute);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => numericEqual(x, b[i], relative, absolute));
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a as object).sort();
    const kb = Object.keys(b as object).sort();
    if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
    return ka.every((k) => numericEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], relative, absolute));
  }
  return a === b;
}

/** Whether two results agree under the comparator (see the file header). */
export function resultsAgree(a: unknown, b: unknown, settings: ComparatorSettings): boolean {
  if (settings.comparator !== 'numeric') return comparisonText(a, settings.comparator) === comparisonText(b, settings.comparator);
  return numericEqual(asJson(a), asJson(b), settings.relative_tolerance, settings.absolute_tolerance);
}

/**
 * Agreeing results grouped (see the file header): largest group first; of
 * equally large ones, the one whose first member came first. Members keep
 * the order they were given in.
 */
export function groupResults<T>(items: readonly T[], resultOf: (item: T) => unknown, settings: ComparatorSettings): T[][] {
  const groups: { first: number; texts: string | null; reference: unknown; members: T[] }[] = [];
  items.forEach((item, index) => {
    const result = resultOf(item);
    const text = comparisonText(result, settings.comparator);
    const group = groups.find((g) =>
      text !== null
        ? g.texts === text
        : numericEqual(g.reference, asJson(result), settings.relative_tolerance, settings.absolute_tolerance),
    );
    if (group) group.members.push(item);
    else groups.push({ first: index, texts: text, reference: text === null ? asJson(result) : null, members: [item] });
  });
  return groups.sort((a, b) => b.members.length - a.members.length || a.first - b.first).map((g) => g.members);
}

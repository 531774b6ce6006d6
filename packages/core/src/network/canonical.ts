/**
 * The one way two results are compared: replicas agree, and a `majority`
 * reduction counts a result, exactly when their canonical JSON is equal.
 */

/**
 * JSON text of `value` with every object's keys sorted (recursively; arrays
 * keep their order), so equal data gives equal text whatever order its keys
 * were written in. Otherwise it follows `JSON.stringify`: `toJSON` is
 * honoured, `undefined`, functions and symbols inside objects are dropped
 * (inside arrays they become `null`), non-finite numbers become `null`.
 * A value with no JSON text at all (top-level `undefined`) gives `'null'`.
 *
 * Keys sort by UTF-16 code units; as with any JavaScript object, integer-like
 * keys still come out first in numeric order, which is equally deterministic.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, sortObjectKeys) ?? 'null';
}

/** `JSON.stringify` replacer: a copy of each plain object with its keys in sorted order. */
function sortObjectKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const record = value as Record<string, unknown>;
  // fromEntries defines own properties, so a `__proto__` key stays a key
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((key) => [key, record[key]]),
  );
}

import { describe, expect, it } from 'vitest';
import { canonicalJson, reduceResults } from '../src/index.ts';

describe('canonicalJson', () => {
  it('sorts keys recursively, keeps array order, drops undefined like JSON.stringify', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({ b: 1, a: 2 })).toBe(canonicalJson({ a: 2, b: 1 }));
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
    expect(canonicalJson([undefined])).toBe('[null]');
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson('x')).toBe('"x"');
    expect(canonicalJson(JSON.parse('{"__proto__":1,"a":2}'))).toBe('{"__proto__":1,"a":2}');
  });
});

describe('reduceResults', () => {
  it('concat spreads arrays and appends other values', () => {
    expect(reduceResults('concat', [[1, 2], 3, [], [[4]], null])).toEqual({ value: [1, 2, 3, [4], null] });
    expect(reduceResults('concat', [])).toEqual({ value: [] });
  });

  it('sum adds numbers and arrays of numbers', () => {
    expect(reduceResults('sum', [1, [2, 3], 0.5, []])).toEqual({ value: 6.5 });
    expect(reduceResults('sum', [])).toEqual({ value: 0 });
  });

  it('sum names the first result it cannot add', () => {
    expect(reduceResults('sum', [1, 2, 3, 'four'])).toEqual({
      error: 'sum: subtask 3 returned a string, not a number or an array of numbers',
    });
    expect(reduceResults('sum', [{ n: 1 }])).toEqual({ error: 'sum: subtask 0 returned an object, not a number or an array of numbers' });
    expect(reduceResults('sum', [1, null])).toEqual({ error: 'sum: subtask 1 returned null, not a number or an array of numbers' });
    expect(reduceResults('sum', [[1, true]])).toEqual({
      error: 'sum: subtask 0 returned an array containing a boolean, not a number or an array of numbers',
    });
    expect(reduceResults('sum', [[[1]]])).toEqual({
      error: 'sum: subtask 0 returned an array containing an array, not a number or an array of numbers',
    });
  });

  it('sum refuses a total that is not finite', () => {
    expect(reduceResults('sum', [Number.MAX_VALUE, Number.MAX_VALUE])).toEqual({ error: 'sum: the total is not a finite number' });
  });

  it('count counts array elements and other results as one', () => {
    expect(reduceResults('count', [[1, 2, 3], 'x', null, []])).toEqual({ value: 5 });
  });

  it('majority picks the most common result by canonical JSON, the first seen on a tie', () => {
    expect(reduceResults('majority', [{ a: 1, b: 2 }, 'x', { b: 2, a: 1 }])).toEqual({
      value: { value: { a: 1, b: 2 }, count: 2, total: 3 },
    });
    expect(reduceResults('majority', ['y', 'x', 'x', 'y'])).toEqual({ value: { value: 'y', count: 2, total: 4 } });
    expect(reduceResults('majority', [])).toEqual({ error: 'majority: there are no results' });
  });
});

// Parsers for flag values that are more than a string; a bad value is a usage error.
import { InvalidArgumentError } from 'commander';

/** `gpu,llm` → ['gpu', 'llm']; `""` → [] (so `agent update --capabilities ""` clears them). */
export function commaList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function integerFrom(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new InvalidArgumentError(`Expected a whole number from ${min} to ${max}.`);
    return n;
  };
}

/** A number from `min` to `max` (fractions allowed), such as `--speculation-multiplier 1.5`. */
export function numberFrom(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`Expected a number from ${min} to ${max}.`);
    return n;
  };
}

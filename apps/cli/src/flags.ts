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

const UNIT_SECONDS: Record<string, number> = { w: 7 * 86_400, d: 86_400, h: 3_600, m: 60, s: 1 };

/** `30d`, `12h`, `90m`, `45s`, `2w`, `1h30m`, or a bare number of seconds → seconds; null when it is none of those. */
export function durationSeconds(value: string): number | null {
  const text = value.trim().toLowerCase();
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+[wdhms])+$/.test(text)) return null;
  let seconds = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([wdhms])/g)) seconds += Number(n) * UNIT_SECONDS[unit!]!;
  return Number.isSafeInteger(seconds) ? seconds : null;
}

/** 90 → `90s`, 5400 → `90m`, 86400 → `24h`, 2592000 → `30d`: the largest unit that divides it. */
export function durationText(seconds: number): string {
  if (seconds === 0) return '0s';
  for (const unit of ['d', 'h', 'm'] as const) if (seconds % UNIT_SECONDS[unit]! === 0) return `${seconds / UNIT_SECONDS[unit]!}${unit}`;
  return `${seconds}s`;
}

/** A flag parser for a duration such as `--expires 30d`, from `min` to `max` seconds; the value is in seconds. */
export function duration(min: number, max: number) {
  const range = `from ${durationText(min)} to ${durationText(max)}`;
  return (value: string): number => {
    const seconds = durationSeconds(value);
    if (seconds === null) throw new InvalidArgumentError(`Expected a duration such as 30d, 12h, 90m, 45s or 2w (${range}).`);
    if (seconds < min || seconds > max) throw new InvalidArgumentError(`Expected a duration ${range}.`);
    return seconds;
  };
}

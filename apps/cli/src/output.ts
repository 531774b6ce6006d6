// How results are printed: the API's data as JSON or YAML, or, for people,
// tables and `key: value` lines that fit in a terminal.
import type { SpeculationView } from '@aitbc/core';
import { stringify as toYaml } from 'yaml';
import type { OutputFormat } from './settings.ts';

export const TERMINAL_WIDTH = 80;

/** The text to print for `data` (ending in a newline); `table` draws it for people. */
export function formatOutput<T>(format: OutputFormat, data: T, table: (data: T) => string): string {
  const text = format === 'json' ? JSON.stringify(data, null, 2) : format === 'yaml' ? toYaml(data) : table(data);
  return text.endsWith('\n') ? text : text + '\n';
}

const ISO_TIME = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * One cell: null → "-", lists of plain values comma-separated (tags, ids),
 * other lists and objects as JSON, API timestamps (UTC) to the minute, all on
 * one line. A list of objects keeps its brackets: `{"sum":6},{"sum":4}` cut
 * to the column would read as one object.
 */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) {
    if (value.length === 0) return '-';
    return value.every((v) => v === null || typeof v !== 'object') ? value.map(formatValue).join(',') : JSON.stringify(value);
  }
  if (typeof value === 'object') return JSON.stringify(value);
  const text = String(value);
  const time = ISO_TIME.exec(text);
  if (time) return `${time[1]} ${time[2]}`;
  return text.replace(/\s+/g, ' ').trim();
}

/** Cuts `text` to `width` characters, the last one "…" when anything was cut. */
export function truncate(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  return width <= 0 ? '' : chars.slice(0, width - 1).join('') + '…';
}

function length(text: string): number {
  return [...text].length;
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - length(text)));
}

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
  /** Flexible columns give up width (down to 4) when the table is too wide; the rest, such as ids, never do. */
  flex?: boolean;
}

const GAP = '  ';
const MIN_FLEX_WIDTH = 4;

export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[], maxWidth = TERMINAL_WIDTH): string {
  const cells = rows.map((row) => columns.map((c) => formatValue(c.value(row))));
  const widths = columns.map((c, i) => Math.max(length(c.header), ...cells.map((r) => length(r[i]!))));
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP.length * (columns.length - 1);
  // Take one character at a time from the widest flexible column.
  while (total() > maxWidth) {
    let widest = -1;
    columns.forEach((c, i) => {
      if (c.flex && widths[i]! > MIN_FLEX_WIDTH && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
    });
    if (widest < 0) break;
    widths[widest]!--;
  }
  const line = (texts: string[]) =>
    texts
      .map((t, i) => (i === texts.length - 1 ? truncate(t, widths[i]!) : pad(truncate(t, widths[i]!), widths[i]!)))
      .join(GAP)
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/** One object as aligned `key: value` lines, each within maxWidth. */
export function renderFields(record: object, maxWidth = TERMINAL_WIDTH): string {
  const entries = Object.entries(record);
  const keyWidth = Math.max(0, ...entries.map(([k]) => length(k) + 1));
  const room = Math.max(MIN_FLEX_WIDTH, maxWidth - keyWidth - 1);
  return entries.map(([k, v]) => `${pad(k + ':', keyWidth)} ${truncate(formatValue(v), room)}`.trimEnd()).join('\n') + '\n';
}

/** "1 agent", "3 agents". */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** `2 launched, 1 won, 8.6 s saved` (null when none ran: nothing to say). */
export function backupsText(s: SpeculationView): string | null {
  if (s.backups_launched === 0) return null;
  return `${s.backups_launched} launched, ${s.backups_won} won, ${s.time_saved_seconds.toFixed(1)} s saved (estimated)`;
}

/** A span of time, rounded, in its largest unit (hours up to two days): `45s`, `12m`, `24h`, `30d`, `2y`. */
export function spanText(seconds: number): string {
  const s = Math.max(0, seconds);
  if (s < 59.5) return `${Math.round(s)}s`;
  if (s < 59.5 * 60) return `${Math.round(s / 60)}m`;
  if (s < 47.5 * 3_600) return `${Math.round(s / 3_600)}h`;
  if (s < 99.5 * 86_400) return `${Math.round(s / 86_400)}d`;
  return `${Math.round(s / (365 * 86_400))}y`;
}

/** When a key stops working, from `now`: `in 23h`, `expired`, or `never` (null). */
export function expiresText(iso: string | null, now = Date.now()): string {
  if (iso === null) return 'never';
  const seconds = (Date.parse(iso) - now) / 1000;
  return seconds <= 0 ? 'expired' : `in ${spanText(seconds)}`;
}

/** How long ago, from `now`: `5m ago`, or `never` (null). */
export function agoText(iso: string | null, now = Date.now()): string {
  return iso === null ? 'never' : `${spanText((now - Date.parse(iso)) / 1000)} ago`;
}

/** A time to the minute with how far off it is: `2026-11-25 06:51 (in 23h)`; null → `never`. */
export function whenText(iso: string | null, now = Date.now()): string {
  if (iso === null) return 'never';
  const seconds = (Date.parse(iso) - now) / 1000;
  return `${formatValue(iso)} UTC (${seconds > 0 ? `in ${spanText(seconds)}` : `${spanText(-seconds)} ago`})`;
}

// The server's log format. JSON lines (pino's own) for machines, the default
// when stdout is not a terminal; on a terminal, or with LOG_FORMAT=pretty,
// each JSON line becomes one short human line:
//
//   12:04:05.123 INFO  listening on http://127.0.0.1:8000 (sqlite /srv/aitbc/data/aitbc.db; admin key in /srv/aitbc/data/admin.key)
//   12:04:09.871 WARN  slow request POST /api/v1/agents/…/claims 200 1,204 ms req=3f2c…
//   12:04:10.002 ERROR procedure failed work.results: <message> req=3f2c…
//       at …                                  (the error's stack, indented)
//
// The transform runs in the process, on the line pino has already redacted,
// so it shows nothing the JSON line would not.
import { isatty } from 'node:tty';

export type LogFormat = 'json' | 'pretty';

/** LOG_FORMAT: json or pretty; unset or empty: undefined (chosen by whether stdout is a terminal). */
export function logFormatFrom(raw: string | undefined): LogFormat | undefined {
  const value = raw?.trim().toLowerCase();
  if (!value) return undefined;
  if (value === 'json' || value === 'pretty') return value;
  throw new Error(`LOG_FORMAT must be json or pretty (got "${raw}"); unset, it is pretty on a terminal and json otherwise`);
}

/** The format to write to file descriptor `fd`: the configured one, else pretty on a terminal and JSON lines otherwise. */
export function chooseLogFormat(configured: LogFormat | undefined, fd = 1): LogFormat {
  return configured ?? (isatty(fd) ? 'pretty' : 'json');
}

/** Colours only on a terminal, and not when NO_COLOR is set (https://no-color.org). */
export function colorsFor(fd = 1, env: NodeJS.ProcessEnv = process.env): boolean {
  return isatty(fd) && !env.NO_COLOR;
}

export interface PrettyOptions {
  colors: boolean;
}

const LEVELS: Record<number, { label: string; color: string }> = {
  10: { label: 'TRACE', color: '90' },
  20: { label: 'DEBUG', color: '36' },
  30: { label: 'INFO ', color: '32' },
  40: { label: 'WARN ', color: '33' },
  50: { label: 'ERROR', color: '31' },
  60: { label: 'FATAL', color: '1;31' },
};
const LABELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/** Fields the line shows in its own way (or not at all: pid, hostname). */
const SHOWN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'reqId', 'req', 'res', 'err', 'method', 'url', 'status', 'ms', 'path']);

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();
const plain = /^[^\s"=]+$/;

/** Whether `text` already says `v`, as a word of its own (the start line's URL, database and admin key; a signal in parentheses). */
function says(text: string, v: string): boolean {
  if (!v) return false;
  for (let i = text.indexOf(v); i >= 0; i = text.indexOf(v, i + 1)) {
    const before = text[i - 1];
    const after = text[i + v.length];
    if ((before === undefined || /[\s(]/.test(before)) && (after === undefined || /[\s);,:]/.test(after))) return true;
  }
  return false;
}

function value(v: unknown): string {
  if (typeof v === 'string') return plain.test(v) ? v : JSON.stringify(v);
  // A long list (the migrations a first start applies) shows its ends: the JSON line has all of it.
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null))
    return v.length > 3 ? `${v[0]},…,${v[v.length - 1]}` : v.join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

interface LogRecord {
  level?: number | string;
  time?: number | string;
  msg?: string;
  reqId?: string;
  method?: string;
  url?: string;
  status?: number;
  ms?: number;
  path?: string;
  req?: { method?: string; url?: string };
  res?: { statusCode?: number };
  err?: { type?: string; message?: string; stack?: string };
  [field: string]: unknown;
}

/** One of pino's JSON lines as a human line (and the error's stack, indented, on the lines after it). */
export function prettyLine(line: string, { colors }: PrettyOptions): string {
  let r: LogRecord;
  try {
    r = JSON.parse(line) as LogRecord;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  if (r === null || typeof r !== 'object') return line.endsWith('\n') ? line : `${line}\n`;
  const paint = (code: string, text: string) => (colors ? `\x1b[${code}m${text}\x1b[0m` : text);
  const levelNumber = typeof r.level === 'number' ? r.level : (LABELS[String(r.level)] ?? 30);
  const level = LEVELS[levelNumber] ?? { label: String(r.level).toUpperCase().padEnd(5), color: '0' };
  const t = new Date(r.time ?? Date.now());
  const time = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${pad(t.getMilliseconds(), 3)}`;

  const status = r.status ?? r.res?.statusCode;
  let text = r.msg ?? '';
  for (const part of [r.path, r.method ?? r.req?.method, r.url ?? r.req?.url, status]) {
    // What the message already says (the start line's URL) is not said twice.
    if (part === undefined || part === null || part === '' || (typeof part === 'string' && says(text, part))) continue;
    text += text ? ` ${part}` : String(part);
  }
  if (typeof r.ms === 'number') text += ` ${r.ms.toLocaleString('en-US')} ms`;
  const err = r.err && typeof r.err === 'object' ? r.err : undefined;
  if (err) text += `: ${oneLine(err.message || err.type || 'error')}`;

  const extras: string[] = [];
  for (const [key, v] of Object.entries(r)) {
    if (SHOWN.has(key) || v === undefined || v === null) continue;
    if (typeof v === 'string' && says(text, v)) continue;
    extras.push(`${key}=${value(v)}`);
  }
  if (extras.length) text += ` ${extras.join(' ')}`;
  if (r.reqId !== undefined) text += ` ${paint('2', `req=${r.reqId}`)}`;

  let out = `${paint('2', time)} ${paint(level.color, level.label)} ${text}\n`;
  if (err?.stack) {
    const lines = err.stack.split('\n');
    const first = lines.findIndex((l) => /^\s+at /.test(l));
    if (first >= 0)
      for (const l of lines.slice(first)) {
        if (l.trim()) out += `${paint('2', `    ${l.trim()}`)}\n`;
      }
  }
  return out;
}

interface Destination {
  write(chunk: string): unknown;
  flush?(cb?: (err?: Error) => void): void;
}

/** A pino destination that writes each JSON line to `out` as a human line (logger.flush flushes `out`). */
export function prettyStream(out: Destination, options: PrettyOptions): Required<Destination> {
  return {
    write: (line: string) => out.write(prettyLine(line, options)),
    flush: (cb = () => {}) => (out.flush ? out.flush(cb) : cb()),
  };
}

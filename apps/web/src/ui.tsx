import type { ReactNode } from 'react';
import type { ErrorInfo } from './api.ts';

/** Small shared pieces: badges, numbers, empty states, errors. */

export function Badge({ tone, children, title }: { tone: string; children: ReactNode; title?: string }) {
  return (
    <span className={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

const TONES: Record<string, string> = {
  active: 'ok',
  completed: 'ok',
  done: 'ok',
  reached: 'ok',
  online: 'ok',
  live: 'ok',
  running: 'info',
  working: 'info',
  coordinating: 'info',
  queued: 'muted',
  assigned: 'muted',
  pending: 'muted',
  idle: 'muted',
  paused: 'muted',
  left: 'muted',
  reassigned: 'muted',
  cancelled: 'muted',
  suspect: 'warn',
  degraded: 'warn',
  busy: 'warn',
  failed: 'bad',
  timed_out: 'bad',
  empty: 'muted',
};

export function State({ value }: { value: string }) {
  return <Badge tone={TONES[value] ?? 'muted'}>{value.replace('_', ' ')}</Badge>;
}

export function Progress({ value, label }: { value: number; label: string }) {
  const pct = Math.max(0, Math.min(100, value));
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
      <div className={`progress-bar${pct >= 100 ? ' progress-done' : ''}`} style={{ width: `${pct}%` }} />
      <span className="progress-text">{formatNumber(pct, 1)}%</span>
    </div>
  );
}

export function formatNumber(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits).replace(/\.?0+$/, '');
}

export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined) return '–';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 120) return `${formatNumber(s, 1)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${formatNumber(s / 3600, 1)} h`;
}

export function formatRate(r: number | null | undefined): string {
  return r === null || r === undefined ? '–' : `${formatNumber(r * 100, 1)}%`;
}

/** Backup copies of straggling subtasks: `2 launched · 1 won · 8.6 s saved`, or – when none ran. */
export function Backups({ value }: { value: { backups_launched: number; backups_won: number; time_saved_seconds: number } }) {
  if (value.backups_launched === 0) return <span className="muted">–</span>;
  return (
    <span title="time saved is an estimate: each backup that won beat a copy that had run t without finishing, taken to need at least t more">
      {value.backups_launched} launched · {value.backups_won} won · {formatSeconds(value.time_saved_seconds)} saved
    </span>
  );
}

export function shortId(id: string): string {
  return id.length > 18 ? `${id.slice(0, 14)}…` : id;
}

export function Id({ value }: { value: string }) {
  return (
    <code className="id" title={value}>
      {shortId(value)}
    </code>
  );
}

/** What to run next, when there is nothing to show. */
export function Empty({ title, children, commands }: { title: string; children?: ReactNode; commands: string[] }) {
  return (
    <div className="empty" data-testid="empty">
      <h3>{title}</h3>
      {children ? <p>{children}</p> : null}
      <pre>{commands.join('\n')}</pre>
    </div>
  );
}

export function ErrorNote({ error }: { error: ErrorInfo | null }) {
  if (!error) return null;
  return (
    <div className="error" role="alert">
      <strong>{error.code}</strong> {error.message}
    </div>
  );
}

export function Loading() {
  return <p className="loading">Loading…</p>;
}

/** A table that scrolls sideways on a narrow screen instead of breaking the layout. */
export function Table({ children, testId, label }: { children: ReactNode; testId?: string; label?: string }) {
  return (
    <div className="table-wrap">
      <table data-testid={testId} aria-label={label}>
        {children}
      </table>
    </div>
  );
}

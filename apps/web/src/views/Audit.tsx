import type { AuditAction } from '@aitbc/core';
import { useEffect, useState } from 'react';
import { describe, type ErrorInfo, type Outputs } from '../api.ts';
import { useLive, useLiveQuery } from '../live.tsx';
import { Badge, Empty, ErrorNote, Id, Loading, Table } from '../ui.tsx';

type AuditPage = Outputs['audit']['list'];
type Entry = AuditPage['entries'][number];

/**
 * The core's audit actions and the tone each is shown in (not imported: the
 * core's schemas would bring zod into the bundle; the Record keeps this list
 * in step with the core's).
 */
const ACTIONS: Record<AuditAction, string> = {
  'key.create': 'ok',
  'key.rotate': 'info',
  'key.revoke': 'bad',
  'agent.remove': 'warn',
  'network.archive': 'warn',
  'execution.cancel': 'warn',
  'execution.redrive': 'info',
  'swarm.leave': 'warn',
  'task.cancel': 'warn',
  'host.quarantine': 'bad',
  'host.lift': 'info',
};
const ACTION_NAMES = Object.keys(ACTIONS) as AuditAction[];

/** Entries per page, the first and each "more". */
const PAGE = 50;

/**
 * What the table shows for one set of filters: the newest page (re-read on
 * every live change) followed by the older pages "more" fetched, and the
 * cursor to the next older page (null: all of it is shown).
 */
interface Log {
  filters: string;
  entries: Entry[];
  cursor: string | null;
}

/** `older` after `newer`, without the ones `newer` already has (both newest first). */
function append(newer: Entry[], older: Entry[]): Entry[] {
  const seen = new Set(newer.map((e) => e.id));
  return [...newer, ...older.filter((e) => !seen.has(e.id))];
}

/**
 * A fresh newest page joins what is shown when the two overlap (the log only
 * grows, so nothing between them is missed); otherwise (other filters, or
 * more new entries than a page) it starts over from that page.
 */
function withNewest(old: Log | null, filters: string, page: AuditPage): Log {
  if (old && old.filters === filters) {
    const shown = new Set(old.entries.map((e) => e.id));
    if (page.entries.some((e) => shown.has(e.id))) return { filters, entries: append(page.entries, old.entries), cursor: old.cursor };
  }
  return { filters, entries: page.entries, cursor: page.next_cursor };
}

function when(at: string): string {
  return new Date(at).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

/** `scope=read · label=ci` from an entry's detail: the nulls left out, long values cut (the whole of it in the tooltip). */
function Detail({ detail }: { detail: Entry['detail'] }) {
  const parts = Object.entries(detail ?? {})
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (parts.length === 0) return <span className="muted">–</span>;
  const text = parts.join(' · ');
  return (
    <span className="muted small" title={JSON.stringify(detail, null, 2)}>
      {text.length > 60 ? `${text.slice(0, 59)}…` : text}
    </span>
  );
}

/** Admins only: narrow the log to one owner (the owners the server knows of). */
function OwnerFilter({ value, onChange }: { value: string; onChange: (owner: string) => void }) {
  const { data } = useLiveQuery((api) => api.live.owners.query(), [], 5000);
  const owners = new Set(data?.owners.map((o) => o.owner_id));
  if (value) owners.add(value);
  return (
    <label className="small">
      owner{' '}
      <select aria-label="owner" value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">every owner</option>
        {[...owners].sort().map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
}

/**
 * The audit log: who issued, rotated or revoked a key, or removed, archived,
 * cancelled or left something. Owner keys see their owner's entries, admin
 * keys everyone's. Newest first; "more" follows the server's cursor.
 */
export function Audit({ admin }: { admin: boolean }) {
  const { api } = useLive();
  const [action, setAction] = useState<AuditAction | ''>('');
  const [owner, setOwner] = useState('');
  const input = { limit: PAGE, ...(action ? { action } : {}), ...(admin && owner ? { owner_id: owner } : {}) };
  const filters = JSON.stringify(input);
  // The page carries the filters it was read for: right after a change, `data` is still the previous filters' page.
  const newest = useLiveQuery(async (a) => ({ filters, page: await a.audit.list.query(input) }), [filters], 2000);
  const [log, setLog] = useState<Log | null>(null);
  const [more, setMore] = useState<{ busy: boolean; error: ErrorInfo | null }>({ busy: false, error: null });

  useEffect(() => {
    const read = newest.data;
    if (read) setLog((old) => withNewest(old, read.filters, read.page));
  }, [newest.data]);

  // Other filters: what "more" failed to fetch for the old ones no longer applies.
  // biome-ignore lint/correctness/useExhaustiveDependencies: reset on the filters alone.
  useEffect(() => setMore({ busy: false, error: null }), [filters]);

  const shown = log?.filters === filters ? log : null;

  const loadMore = async () => {
    const cursor = shown?.cursor;
    if (!cursor) return;
    setMore({ busy: true, error: null });
    try {
      const page = await api.audit.list.query({ ...input, cursor });
      // Unless the filters changed meanwhile (or another "more" got there first).
      setLog((cur) =>
        cur && cur.filters === filters && cur.cursor === cursor
          ? { filters: cur.filters, entries: append(cur.entries, page.entries), cursor: page.next_cursor }
          : cur,
      );
      setMore({ busy: false, error: null });
    } catch (error) {
      setMore({ busy: false, error: describe(error) });
    }
  };

  if (newest.loading) return <Loading />;
  const filtered = Boolean(action || (admin && owner));
  return (
    <div className="view" data-testid="view-audit">
      <div className="view-head">
        <h2>Audit log</h2>
        <span className="muted">
          {admin ? 'admin view: every owner’s entries' : 'this owner’s entries'}: keys issued, rotated and revoked, and what was removed,
          archived, cancelled or left
        </span>
      </div>
      <div className="filters">
        <label className="small">
          action{' '}
          <select aria-label="action" value={action} onChange={(e) => setAction(e.target.value as AuditAction | '')}>
            <option value="">every action</option>
            {ACTION_NAMES.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        {admin ? <OwnerFilter value={owner} onChange={setOwner} /> : null}
        {shown ? (
          <span className="muted small" data-testid="audit-count">
            {shown.entries.length} {shown.entries.length === 1 ? 'entry' : 'entries'}
            {shown.cursor ? ', more before' : ''}
          </span>
        ) : null}
      </div>
      <ErrorNote error={newest.error} />
      {!shown && !newest.error ? <Loading /> : null}
      {shown && shown.entries.length === 0 && filtered ? <p className="muted">No entries match these filters.</p> : null}
      {shown && shown.entries.length === 0 && !filtered ? (
        <Empty title="Nothing in the audit log yet" commands={['aitbc keys create --owner alice', 'aitbc keys revoke KEY_ID']}>
          Issuing, rotating or revoking a key, and removing, archiving, cancelling or leaving something, is recorded here:
        </Empty>
      ) : null}
      {shown?.entries.length ? (
        <Table testId="audit" label="audit log">
          <thead>
            <tr>
              <th>when</th>
              <th>action</th>
              <th>target</th>
              <th>owner</th>
              <th>by</th>
              <th>ip</th>
              <th>request</th>
              <th>detail</th>
            </tr>
          </thead>
          <tbody>
            {shown.entries.map((e) => (
              <tr key={e.id} data-testid="audit-entry" data-action={e.action} data-target-id={e.target_id} data-owner-id={e.owner_id}>
                <td title={e.at}>{when(e.at)}</td>
                <td>
                  <Badge tone={ACTIONS[e.action] ?? 'muted'}>{e.action}</Badge>
                </td>
                <td>
                  <Id value={e.target_id} />
                </td>
                <td>{e.owner_id}</td>
                <td>
                  {e.actor_owner_id}{' '}
                  {e.actor_key_id ? (
                    <Id value={e.actor_key_id} />
                  ) : (
                    <span className="muted" title="a key configured through AITBC_ADMIN_API_KEYS">
                      configured key
                    </span>
                  )}
                </td>
                <td>{e.ip ?? <span className="muted">–</span>}</td>
                <td>{e.request_id ? <Id value={e.request_id} /> : <span className="muted">–</span>}</td>
                <td>
                  <Detail detail={e.detail} />
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
      <ErrorNote error={more.error} />
      {shown?.cursor ? (
        <p>
          <button type="button" className="secondary" onClick={loadMore} disabled={more.busy}>
            {more.busy ? 'Loading…' : 'More'}
          </button>
        </p>
      ) : null}
    </div>
  );
}

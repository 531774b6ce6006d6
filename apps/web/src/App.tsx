import type { KeyScope, WhoAmI } from '@aitbc/core';
import { type FormEvent, useCallback, useEffect, useMemo, useState } from 'react';
import { type Api, createApi, describe, type ErrorInfo, session } from './api.ts';
import { LiveProvider, useLive } from './live.tsx';
import { Badge, ErrorNote } from './ui.tsx';
import { Audit } from './views/Audit.tsx';
import { DeadLetters } from './views/DeadLetters.tsx';
import { Hosts } from './views/Hosts.tsx';
import { Networks } from './views/Networks.tsx';
import { Owners } from './views/Owners.tsx';
import { Swarms } from './views/Swarms.tsx';
import { Tasks } from './views/Tasks.tsx';

/**
 * What each scope may do, least to most (the core's KEY_SCOPES; not imported:
 * the core's schemas would bring zod into the bundle). A worker key reads
 * nothing, so it never gets past the sign-in form.
 */
const SCOPES: Record<KeyScope, { rank: number; tone: string; may: string }> = {
  worker: { rank: 0, tone: 'muted', may: 'only runs work: claims, results and heartbeats' },
  read: { rank: 1, tone: 'muted', may: 'reads this owner’s records and changes nothing' },
  owner: { rank: 2, tone: 'info', may: 'does everything this owner may' },
  admin: { rank: 3, tone: 'warn', may: 'does everything, for every owner' },
};

/** Each view and the narrowest scope that reads it (the audit log is owner and admin keys only). */
const VIEWS = [
  { path: '/swarms', label: 'Swarms', needs: 'read' },
  { path: '/tasks', label: 'Tasks', needs: 'read' },
  { path: '/networks', label: 'Networks', needs: 'read' },
  { path: '/dead-letters', label: 'Dead letters', needs: 'read' },
  { path: '/hosts', label: 'Hosts', needs: 'read' },
  { path: '/audit', label: 'Audit', needs: 'owner' },
  { path: '/owners', label: 'Owners', needs: 'admin' },
] as const satisfies readonly { path: string; label: string; needs: KeyScope }[];
type ViewPath = (typeof VIEWS)[number]['path'];

const mayOpen = (scope: KeyScope, view: (typeof VIEWS)[number]) => SCOPES[scope].rank >= SCOPES[view.needs].rank;

function currentView(): ViewPath {
  const path = window.location.pathname.replace(/\/+$/, '');
  return VIEWS.find((v) => v.path === path)?.path ?? '/swarms';
}

function usePath(): [ViewPath, (path: ViewPath) => void] {
  const [path, setPath] = useState<ViewPath>(currentView);
  useEffect(() => {
    const onPop = () => setPath(currentView());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const go = useCallback((next: ViewPath) => {
    if (next !== currentView()) window.history.pushState(null, '', next);
    setPath(next);
  }, []);
  return [path, go];
}

/** Why the sign-in form is showing: a key the server refused, or a worker key (which reads nothing). */
type Refusal = { error: ErrorInfo } | { worker: WhoAmI };

/** The one thing a worker key hears: it runs work, it does not read the dashboard. */
function WorkerKeyNote({ principal }: { principal: WhoAmI }) {
  return (
    <div className="error" role="alert" data-testid="worker-key">
      <strong>This is a worker key</strong> for {principal.owner_id}: it may only run work (claim tasks, report results and send heartbeats)
      and cannot read the dashboard. Sign in with a read, owner or admin key instead.
    </div>
  );
}

function SignIn({
  onSignedIn,
  refusal: initialRefusal,
}: {
  onSignedIn: (key: string, principal: WhoAmI, api: Api) => void;
  refusal: Refusal | null;
}) {
  const [key, setKey] = useState('');
  const [refusal, setRefusal] = useState<Refusal | null>(initialRefusal);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) return setRefusal({ error: { code: 'BAD_REQUEST', message: 'Enter an API key' } });
    setBusy(true);
    setRefusal(null);
    const api = createApi(trimmed);
    try {
      const principal = await api.key.whoami.query({});
      // Not kept: every read would answer 403.
      if (principal.scope === 'worker') setRefusal({ worker: principal });
      else onSignedIn(trimmed, principal, api);
    } catch (err) {
      setRefusal({ error: describe(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <form onSubmit={submit} className="card" aria-label="sign in">
        <h1>aitbc swarm</h1>
        <p className="muted">Sign in with your API key to watch your swarms, tasks and networks live.</p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={key}
          onChange={(e) => setKey(e.target.value)}
          placeholder="aitbc_…"
        />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {refusal && 'worker' in refusal ? <WorkerKeyNote principal={refusal.worker} /> : null}
        <ErrorNote error={refusal && 'error' in refusal ? refusal.error : null} />
        <p className="muted small">
          The key is kept in this tab’s session storage only, and sent in the X-Api-Key header. An admin issues keys with{' '}
          <code>aitbc keys create --owner NAME</code>.
        </p>
      </form>
    </main>
  );
}

function LiveBadge() {
  const { state, last } = useLive();
  const text = state === 'live' ? 'live' : state === 'connecting' ? 'connecting…' : 'polling every 5 s';
  return (
    <span
      className={`live live-${state}`}
      data-testid="live-state"
      data-state={state}
      title={last ? `last change ${new Date(last.at).toLocaleTimeString()}` : undefined}
    >
      <i /> {text}
    </span>
  );
}

function Shell({ principal, onSignOut }: { principal: WhoAmI; onSignOut: () => void }) {
  const [path, go] = usePath();
  const scope = principal.scope;
  const views = VIEWS.filter((v) => mayOpen(scope, v));
  // A view this key may not read (a bookmarked /owners, say) shows the swarms instead.
  const view: ViewPath = views.some((v) => v.path === path) ? path : '/swarms';
  const expires = principal.expires_at ? `; expires ${new Date(principal.expires_at).toLocaleString()}` : '';
  return (
    <div className="shell">
      <header className="top">
        <span className="brand">aitbc swarm</span>
        <nav>
          {views.map((v) => (
            <a
              key={v.path}
              href={v.path}
              aria-current={view === v.path ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault();
                go(v.path);
              }}
            >
              {v.label}
            </a>
          ))}
        </nav>
        <span className="spacer" />
        <LiveBadge />
        <span className="who">
          <span data-testid="whoami">{principal.owner_id}</span>{' '}
          <span data-testid="scope" data-scope={scope} title={`${scope} key: ${SCOPES[scope].may}${expires}`}>
            <Badge tone={SCOPES[scope].tone}>{scope}</Badge>
          </span>
        </span>
        <button type="button" className="secondary" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main>
        {view === '/swarms' ? <Swarms /> : null}
        {view === '/tasks' ? <Tasks /> : null}
        {view === '/networks' ? <Networks /> : null}
        {view === '/dead-letters' ? <DeadLetters canRedrive={SCOPES[scope].rank >= SCOPES.owner.rank} /> : null}
        {view === '/hosts' ? <Hosts canLift={SCOPES[scope].rank >= SCOPES.owner.rank} /> : null}
        {view === '/audit' ? <Audit admin={scope === 'admin'} /> : null}
        {view === '/owners' ? <Owners /> : null}
      </main>
    </div>
  );
}

type Auth = { state: 'checking' } | { state: 'signed-out'; refusal: Refusal | null } | { state: 'signed-in'; principal: WhoAmI; api: Api };

export function App() {
  const stored = useMemo(() => session.load(), []);
  const [auth, setAuth] = useState<Auth>(stored ? { state: 'checking' } : { state: 'signed-out', refusal: null });

  // A key from earlier in this tab: check it still works (it may have been revoked).
  useEffect(() => {
    if (!stored) return;
    const api = createApi(stored);
    api.key.whoami.query({}).then(
      (principal) => {
        if (principal.scope !== 'worker') return setAuth({ state: 'signed-in', principal, api });
        session.clear();
        setAuth({ state: 'signed-out', refusal: { worker: principal } });
      },
      (error) => {
        session.clear();
        setAuth({ state: 'signed-out', refusal: { error: describe(error) } });
      },
    );
  }, [stored]);

  if (auth.state === 'checking') return <p className="loading">Checking your key…</p>;
  if (auth.state === 'signed-out') {
    return (
      <SignIn
        refusal={auth.refusal}
        onSignedIn={(key, principal, api) => {
          session.save(key);
          setAuth({ state: 'signed-in', principal, api });
        }}
      />
    );
  }
  return (
    <LiveProvider api={auth.api}>
      <Shell
        principal={auth.principal}
        onSignOut={() => {
          session.clear();
          setAuth({ state: 'signed-out', refusal: null });
        }}
      />
    </LiveProvider>
  );
}

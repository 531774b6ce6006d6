import type { Principal } from '@aitbc/core';
import { type FormEvent, useCallback, useEffect, useMemo, useState } from 'react';
import { type Api, createApi, describe, type ErrorInfo, session } from './api.ts';
import { LiveProvider, useLive } from './live.tsx';
import { ErrorNote } from './ui.tsx';
import { Networks } from './views/Networks.tsx';
import { Owners } from './views/Owners.tsx';
import { Swarms } from './views/Swarms.tsx';
import { Tasks } from './views/Tasks.tsx';

const VIEWS = [
  { path: '/swarms', label: 'Swarms', admin: false },
  { path: '/tasks', label: 'Tasks', admin: false },
  { path: '/networks', label: 'Networks', admin: false },
  { path: '/owners', label: 'Owners', admin: true },
] as const;
type ViewPath = (typeof VIEWS)[number]['path'];

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

function SignIn({
  onSignedIn,
  error: initialError,
}: {
  onSignedIn: (key: string, principal: Principal, api: Api) => void;
  error: ErrorInfo | null;
}) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<ErrorInfo | null>(initialError);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) return setError({ code: 'BAD_REQUEST', message: 'Enter an API key' });
    setBusy(true);
    const api = createApi(trimmed);
    try {
      onSignedIn(trimmed, await api.key.whoami.query({}), api);
    } catch (err) {
      setError(describe(err));
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
        <ErrorNote error={error} />
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

function Shell({ principal, onSignOut }: { principal: Principal; onSignOut: () => void }) {
  const [path, go] = usePath();
  const isAdmin = principal.role === 'admin';
  const view = path === '/owners' && !isAdmin ? '/swarms' : path;
  return (
    <div className="shell">
      <header className="top">
        <span className="brand">aitbc swarm</span>
        <nav>
          {VIEWS.filter((v) => !v.admin || isAdmin).map((v) => (
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
        <span className="who" data-testid="whoami">
          {principal.owner_id}
          {isAdmin ? <span className="muted"> (admin)</span> : null}
        </span>
        <button type="button" className="secondary" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main>
        {view === '/swarms' ? <Swarms /> : null}
        {view === '/tasks' ? <Tasks /> : null}
        {view === '/networks' ? <Networks /> : null}
        {view === '/owners' ? <Owners /> : null}
      </main>
    </div>
  );
}

type Auth =
  | { state: 'checking' }
  | { state: 'signed-out'; error: ErrorInfo | null }
  | { state: 'signed-in'; principal: Principal; api: Api };

export function App() {
  const stored = useMemo(() => session.load(), []);
  const [auth, setAuth] = useState<Auth>(stored ? { state: 'checking' } : { state: 'signed-out', error: null });

  // A key from earlier in this tab: check it still works (it may have been revoked).
  useEffect(() => {
    if (!stored) return;
    const api = createApi(stored);
    api.key.whoami.query({}).then(
      (principal) => setAuth({ state: 'signed-in', principal, api }),
      (error) => {
        session.clear();
        setAuth({ state: 'signed-out', error: describe(error) });
      },
    );
  }, [stored]);

  if (auth.state === 'checking') return <p className="loading">Checking your key…</p>;
  if (auth.state === 'signed-out') {
    return (
      <SignIn
        error={auth.error}
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
          setAuth({ state: 'signed-out', error: null });
        }}
      />
    </LiveProvider>
  );
}

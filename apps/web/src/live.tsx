import type { LiveChange } from '@aitbc/core';
import { createContext, type ReactNode, useContext, useEffect, useRef, useState } from 'react';
import { type Api, describe, type ErrorInfo } from './api.ts';

/** Without the live stream, views re-read this often. */
const POLL_MS = 5000;

export type LiveState = 'connecting' | 'live' | 'polling';

interface LiveValue {
  api: Api;
  /** Bumped on every change the server reports (or every poll): views re-read when it moves. */
  version: number;
  last: LiveChange | null;
  state: LiveState;
}

const LiveContext = createContext<LiveValue | null>(null);

/**
 * One `live.changes` subscription for the whole page. Each message bumps
 * `version`; while the stream is down (an error, a proxy that buffers SSE),
 * a timer bumps it instead, so the views poll until the stream is back.
 */
export function LiveProvider({ api, children }: { api: Api; children: ReactNode }) {
  const [version, setVersion] = useState(0);
  const [last, setLast] = useState<LiveChange | null>(null);
  const [state, setState] = useState<LiveState>('connecting');

  useEffect(() => {
    const sub = api.live.changes.subscribe(undefined, {
      onData: (change) => {
        setLast(change);
        setState('live');
        setVersion((v) => v + 1);
      },
      onError: () => setState('polling'),
      onConnectionStateChange: (s) => {
        if (s.state === 'connecting' && s.error) setState('polling');
      },
    });
    return () => sub.unsubscribe();
  }, [api]);

  useEffect(() => {
    if (state === 'live') return;
    const timer = setInterval(() => setVersion((v) => v + 1), POLL_MS);
    return () => clearInterval(timer);
  }, [state]);

  return <LiveContext.Provider value={{ api, version, last, state }}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveValue {
  const value = useContext(LiveContext);
  if (!value) throw new Error('useLive outside LiveProvider');
  return value;
}

export interface Loaded<T> {
  data: T | undefined;
  error: ErrorInfo | null;
  loading: boolean;
}

/**
 * Reads `load(api)` now, again when `deps` change, and again on every live
 * change. Reads never overlap: a change during one is read once it ends, and
 * re-reads for live changes start at least `everyMs` apart (a busy swarm
 * changes many times a second; a view need not follow each one).
 */
export function useLiveQuery<T>(load: (api: Api) => Promise<T>, deps: readonly unknown[], everyMs = 300): Loaded<T> {
  const { api, version } = useLive();
  const [result, setResult] = useState<Loaded<T>>({ data: undefined, error: null, loading: true });
  const key = JSON.stringify(deps);
  const latest = useRef({ load, api, key });
  latest.current = { load, api, key };
  const reader = useRef({ running: false, again: false, generation: 0, mounted: true, started: 0, key: '' });

  useEffect(() => {
    const r = reader.current;
    r.mounted = true;
    return () => {
      r.mounted = false;
    };
  }, []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: re-read on the caller's deps and on live changes.
  useEffect(() => {
    const r = reader.current;
    r.generation++;
    if (r.running) {
      r.again = true;
      return;
    }
    r.running = true;
    void (async () => {
      try {
        do {
          r.again = false;
          // Only live changes wait; new deps (another swarm, another page) read at once.
          const wait = r.key === latest.current.key ? r.started + everyMs - Date.now() : 0;
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          r.key = latest.current.key;
          r.started = Date.now();
          const generation = r.generation;
          try {
            const data = await latest.current.load(latest.current.api);
            if (r.mounted && generation === r.generation) setResult({ data, error: null, loading: false });
          } catch (error) {
            if (r.mounted && generation === r.generation) setResult((old) => ({ data: old.data, error: describe(error), loading: false }));
          }
        } while (r.again && r.mounted);
      } finally {
        r.running = false;
      }
    })();
  }, [api, version, key]);

  return result;
}

/** The current time, ticking every second (for "seconds since the last heartbeat"). */
export function useNow(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

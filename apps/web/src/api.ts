import type { AppRouter } from '@aitbc/client';
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, type TRPCClient } from '@trpc/client';
import type { inferRouterOutputs } from '@trpc/server';
import { EventSource } from 'eventsource';

export type Api = TRPCClient<AppRouter>;
export type Outputs = inferRouterOutputs<AppRouter>;

/** Where the API is: the page's own origin (the server serves the dashboard; `vite dev` proxies /trpc). */
const TRPC_URL = '/trpc';

/**
 * The one way the dashboard talks to the server: the typed tRPC client.
 * Queries and mutations are batched over HTTP; subscriptions are SSE. The key
 * travels in the X-Api-Key header on both, never in a URL: the browser's own
 * EventSource cannot send headers, so the `eventsource` package's (built on
 * fetch) is given a fetch that adds it.
 */
export function createApi(apiKey: string): Api {
  const headers = { 'x-api-key': apiKey };
  const fetchWithKey: typeof fetch = (input, init) => {
    const withKey = new Headers(init?.headers);
    withKey.set('x-api-key', apiKey);
    return fetch(input, { ...init, headers: withKey });
  };
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: TRPC_URL,
          EventSource,
          eventSourceOptions: { fetch: fetchWithKey },
        }),
        false: httpBatchLink({ url: TRPC_URL, headers: () => headers, maxURLLength: 4000 }),
      }),
    ],
  });
}

export interface ErrorInfo {
  code: string;
  message: string;
}

/** The server's own words for what went wrong (its code and message), or the network's. */
export function describe(error: unknown): ErrorInfo {
  const e = error as { message?: string; data?: { code?: string } | null } | null;
  if (e && typeof e === 'object' && e.data?.code) return { code: e.data.code, message: e.message ?? e.data.code };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'NETWORK_ERROR', message: message === 'Failed to fetch' ? 'The server could not be reached' : message };
}

const KEY_ITEM = 'aitbc.apiKey';

/** The key lives in session storage: it is gone when the tab closes, and never in a URL or a cookie. */
export const session = {
  load: (): string | null => sessionStorage.getItem(KEY_ITEM),
  save: (key: string) => sessionStorage.setItem(KEY_ITEM, key),
  clear: () => sessionStorage.removeItem(KEY_ITEM),
};

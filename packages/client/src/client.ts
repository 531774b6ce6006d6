import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  retryLink,
  splitLink,
  TRPCClientError,
  type TRPCClient,
  type TRPCLink,
} from '@trpc/client';
import { MAX_WAIT_SECONDS } from '@aitbc/core';
import { context, propagation } from '@opentelemetry/api';
import type { AppRouter } from '@aitbc/server';

export type { AppRouter };
export type AitbcClient = TRPCClient<AppRouter>;

// `| undefined` on each optional option: `apiKey: process.env.AITBC_API_KEY` type-checks under exactOptionalPropertyTypes
// too (which `tsc --init` turns on).
export interface ClientOptions {
  /** Server base URL, e.g. http://127.0.0.1:8000 */
  url: string;
  /** Sent as X-Api-Key on every call. */
  apiKey?: string | undefined;
  /** Per-request timeout in milliseconds (default 30 000). */
  timeoutMs?: number | undefined;
  fetch?: typeof globalThis.fetch | undefined;
}

/**
 * A fully typed client for the aitbc-swarm API:
 *
 *   const aitbc = createClient({ url: 'http://127.0.0.1:8000', apiKey });
 *   const agent = await aitbc.agent.register.mutate({ name: 'a1', capabilities: ['gpu'] });
 */
export function createClient(options: ClientOptions): AitbcClient {
  const base = options.url.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const baseFetch = options.fetch ?? globalThis.fetch;
  const link = (timeout: number) => ({
    url: `${base}/trpc`,
    headers: () => {
      const headers: Record<string, string> = options.apiKey !== undefined ? { 'x-api-key': options.apiKey } : {};
      // The caller's current span, as a traceparent header, when the program has set up OpenTelemetry (a no-op otherwise):
      // the server's spans for this call are its children.
      propagation.inject(context.active(), headers);
      return headers;
    },
    // tRPC always passes a signal of its own (aborted when the caller's is): the timeout joins it, never replaces it.
    fetch: (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const timedOut = AbortSignal.timeout(timeout);
      return baseFetch(input, { ...(init as RequestInit), signal: init?.signal ? AbortSignal.any([init.signal, timedOut]) : timedOut });
    },
  });
  return createTRPCClient<AppRouter>({
    links: [
      submitKeys,
      // A submit whose answer never arrived (the connection cut, a timeout, the server briefly unavailable) is sent
      // again under the same idempotency key: the server answers a repeat with the first answer, never running twice.
      retryLink({
        retry: ({ op, error, attempts }) => SUBMITS.has(op.path) && attempts <= SUBMIT_RETRIES && isTransient(error),
        retryDelayMs: (attempt) => Math.min(4000, 250 * 2 ** attempt),
      }),
      // A long poll (a claim waiting for work, a task status waiting for the end) may be held up to
      // MAX_WAIT_SECONDS: it goes alone, so nothing batched with it waits as long, and its timeout counts the wait.
      splitLink({
        condition: (op) =>
          CLAIMS.has(op.path) || (op.path === 'swarm.task' && (op.input as { wait_seconds?: number }).wait_seconds !== undefined),
        true: httpLink(link(timeoutMs + MAX_WAIT_MS)),
        // A worker's heartbeats and outcomes are batches already: each goes alone, so a slow outcome batch never holds
        // up the heartbeat that keeps its leases.
        false: splitLink({
          condition: (op) => WORKER_BATCHES.has(op.path),
          true: httpLink(link(timeoutMs)),
          false: httpBatchLink(link(timeoutMs)),
        }),
      }),
    ],
  });
}

/** Submits that create something and take an idempotency key (the server's idempotency.ts). */
const SUBMITS = new Set(['execution.execute', 'swarm.coordinate', 'network.create', 'key.create']);
/** Retries of a submit whose answer did not arrive. */
const SUBMIT_RETRIES = 4;

/** Every submit carries an idempotency key: the caller's own, or a fresh one, kept across the retries below. */
const submitKeys: TRPCLink<AppRouter> =
  () =>
  ({ op, next }) => {
    if (op.type !== 'mutation' || !SUBMITS.has(op.path)) return next(op);
    const input = (op.input ?? {}) as { idempotency_key?: string };
    return next(input.idempotency_key !== undefined ? op : { ...op, input: { ...input, idempotency_key: globalThis.crypto.randomUUID() } });
  };

/** No answer (a cut connection, a timeout), or the server asking to come back: worth sending again. */
function isTransient(error: unknown): boolean {
  const { httpStatus } = describeError(error);
  return httpStatus === null || httpStatus === 502 || httpStatus === 503 || httpStatus === 504;
}

/** Calls that may wait for work (with `wait_seconds`). */
const CLAIMS = new Set(['work.claim', 'work.claims', 'swarm.claim', 'swarm.claims']);
const MAX_WAIT_MS = MAX_WAIT_SECONDS * 1000;
const WORKER_BATCHES = new Set(['work.heartbeats', 'work.results']);

export interface ApiErrorInfo {
  /**
   * The server's code (UNAUTHORIZED, NOT_FOUND, CONFLICT, BAD_REQUEST, …) or, when
   * it could not be reached, the network's (ECONNREFUSED, TIMEOUT, NETWORK_ERROR, …).
   */
  code: string;
  httpStatus: number | null;
  message: string;
  issues?: { path: string; message: string }[];
}

/** What went wrong with a call, whether the server answered or could not be reached. */
export function describeError(error: unknown): ApiErrorInfo {
  if (error instanceof TRPCClientError) {
    const data = error.data as { code?: string; httpStatus?: number; issues?: ApiErrorInfo['issues'] } | undefined;
    if (data?.code)
      return {
        code: data.code,
        httpStatus: data.httpStatus ?? null,
        message: error.message,
        ...(data.issues ? { issues: data.issues } : {}),
      };
    // No answer from the server: fetch hides the reason (ECONNREFUSED, "bad port", a timeout) in its causes.
    let code: string | undefined;
    let message = error.message;
    for (let e: unknown = error.cause, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
      // A system error's code is a string (ECONNREFUSED); a DOMException's is a number (a timeout's is 23): named instead.
      const own = (e as Error & { code?: unknown }).code;
      code = typeof own === 'string' ? own : e.name === 'TimeoutError' ? 'TIMEOUT' : e.message === 'fetch failed' ? 'NETWORK_ERROR' : code;
      message = e.message || message;
    }
    return { code: code ?? 'CLIENT_ERROR', httpStatus: null, message };
  }
  return { code: 'CLIENT_ERROR', httpStatus: null, message: error instanceof Error ? error.message : String(error) };
}

export { TRPCClientError };

/**
 * Calls to a server that may be away for a while (restarting, a network
 * outage): retried with backoff while it cannot be reached or asks to wait,
 * and given up when the server refuses or the caller stops waiting. The
 * worker uses it for every call; `aitbc agent work` and `swarm work` for what
 * they look up before starting one, so they say the same lines.
 */
import { describeError, TRPCClientError } from './client.ts';

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 8000;

/** The wait before the `failures`-th retry in a row: 250 ms, doubling, at most 8 s. */
export function backoffMs(failures: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, failures - 1));
}

/** The server answered and said no (not "not now": 429 and 503 are retried). */
export function isRefusal(error: unknown): boolean {
  const { httpStatus } = describeError(error);
  return httpStatus !== null && httpStatus !== 429 && httpStatus !== 503;
}

/** Not now rather than no: the server could not be reached, or asked to wait (429, 503). Anything else is not retried. */
function worthRetrying(error: unknown): boolean {
  if (!(error instanceof TRPCClientError)) return false;
  const { httpStatus } = describeError(error);
  return httpStatus === null || httpStatus === 429 || httpStatus === 503;
}

export function reason(error: unknown): string {
  const info = describeError(error);
  return info.httpStatus === null ? `${info.code}: ${info.message}` : info.message;
}

/** A wait that ends early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** The server stayed unreachable (or silent) until the caller stopped waiting. */
export class GaveUp extends Error {
  override readonly name = 'GaveUp';
}

export interface ReachOptions {
  /** Where `<what>: cannot reach the server (…); retrying` and `<what>: the server answers again` go. */
  log?: (line: string) => void;
  /** Stop waiting (GaveUp): it also aborts a request in flight, so a server that never answers cannot hold the caller. */
  until?: AbortSignal;
}

/**
 * `call`'s answer once the server gives one: while it cannot be reached (or
 * answers 429 or 503) the call is retried with backoff, said once when it
 * starts and once when the server answers again. A refusal (any other
 * status), or an error that is not the server's, is thrown as it came;
 * `until` aborting throws GaveUp.
 */
export async function untilReachable<T>(
  what: string,
  call: (signal: AbortSignal | undefined) => Promise<T>,
  options: ReachOptions = {},
): Promise<T> {
  const { log = () => {}, until } = options;
  let failures = 0;
  for (;;) {
    try {
      const value = await call(until);
      if (failures > 0) log(`${what}: the server answers again`);
      return value;
    } catch (error) {
      if (until?.aborted) throw new GaveUp(reason(error));
      if (!worthRetrying(error)) throw error;
      if (failures === 0)
        log(
          `${what}: ${describeError(error).httpStatus === null ? 'cannot reach the server' : 'the server asks to wait'} (${reason(error)}); retrying`,
        );
      failures++;
      await sleep(backoffMs(failures), until);
      if (until?.aborted) throw new GaveUp(reason(error));
    }
  }
}

// Waiting in tests: for a while, or until something the server does asynchronously (the sweeper, buffered heartbeats, events) shows.

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves with what `probe` returns once it is truthy; fails after `ms`. */
export async function eventually<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  ms = 10_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error('timed out waiting');
    await sleep(50);
  }
}

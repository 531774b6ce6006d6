// Ctrl-C and SIGTERM for commands that keep running (workers, --watch): the
// first signal asks the command to stop, the second to stop now.

/**
 * Runs `body` with two signals: `stop` aborts at the first SIGINT or SIGTERM,
 * `abandon` at the second. The process's default handling is back once body ends.
 */
export async function untilSignalled<T>(body: (stop: AbortSignal, abandon: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const abandon = new AbortController();
  const onSignal = () => (stop.signal.aborted ? abandon : stop).abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await body(stop.signal, abandon.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

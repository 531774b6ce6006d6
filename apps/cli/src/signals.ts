// Ctrl-C and SIGTERM for commands that keep running (workers, --watch): the
// first signal asks the command to stop, the second to stop now, and the
// third ends the process at once, whatever it is waiting for.
import { constants } from 'node:os';

/**
 * Runs `body` with three signals: `stop` aborts at the first SIGINT or
 * SIGTERM, `abandon` at the second; at the third `force` aborts (its
 * listeners say what is left behind) and the process exits at once, 128 plus
 * the signal's number, as a shell reports a process a signal ended. The
 * process's default handling is back once body ends.
 */
export async function untilSignalled<T>(body: (stop: AbortSignal, abandon: AbortSignal, force: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const abandon = new AbortController();
  const force = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stop.signal.aborted) return stop.abort();
    if (!abandon.signal.aborted) return abandon.abort();
    force.abort();
    process.exit(128 + constants.signals[signal]);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await body(stop.signal, abandon.signal, force.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

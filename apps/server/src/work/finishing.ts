/**
 * Parents checked for being done after their work moved (finishIfDone), at
 * most one check per parent at a time on this instance: a check asked for
 * while one runs makes it run once more when it ends, and both callers are
 * answered after that. Results arriving together share the read, and the
 * check after the last commit always runs: it starts after that commit.
 */
import type { ParentKind } from './parent.ts';
import type { EngineState } from './state.ts';

export function finishIfDone(w: EngineState, kind: ParentKind, id: string): Promise<void> {
  const running = w.finishing.get(id);
  if (running) {
    running.again = true;
    return running.done;
  }
  const entry = { again: false, done: Promise.resolve() };
  entry.done = (async () => {
    try {
      do {
        entry.again = false;
        await w.parent(kind).finishIfDone(w.deps.db, id, w.deps.clock.now());
      } while (entry.again);
    } finally {
      w.finishing.delete(id);
    }
  })();
  w.finishing.set(id, entry);
  return entry.done;
}

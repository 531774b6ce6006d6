/**
 * Parents checked for being done after their work moved (finishIfDone), at
 * most one check per parent at a time on this instance: a check asked for
 * while one runs makes it run once more when it ends, and both callers are
 * answered after that. Results arriving together share the read, and the
 * check after the last commit always runs: it starts after that commit.
 */
import type { ParentKind } from './parent.ts';
import type { EngineState } from './state.ts';

/** The parent's status as the last check left it (undefined: not known). */
export function finishIfDone(w: EngineState, kind: ParentKind, id: string): Promise<string | undefined> {
  const running = w.finishing.get(id);
  if (running) {
    running.again = true;
    return running.done;
  }
  const entry: { again: boolean; done: Promise<string | undefined> } = { again: false, done: Promise.resolve(undefined) };
  entry.done = (async () => {
    try {
      let status: string | undefined;
      do {
        entry.again = false;
        status = await w.parent(kind).finishIfDone(w.deps.db, id, w.deps.clock.now());
      } while (entry.again);
      return status;
    } finally {
      w.finishing.delete(id);
    }
  })();
  w.finishing.set(id, entry);
  return entry.done;
}

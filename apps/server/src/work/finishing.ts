/**
 * Parents checked for being done after their work moved (finishIfDone),
 * grouped per owner and kind across requests (groups.ts): while an owner's
 * check runs, the parents its other requests ask about meanwhile wait and
 * are checked together in the next one (one read, one transaction for all
 * that are done: WorkParent.finishIfDone). A check asked for after a commit
 * always starts after that commit, so the last one sees every decision.
 * An owner has at most one check waiting for the database at a time: its
 * workers' claims are not queued behind a check per results request.
 */
import { Groups } from './groups.ts';
import type { ParentKind } from './parent.ts';
import type { EngineState } from './state.ts';

/** Parent ids a check takes at most; more wait for the next. */
const MAX_GROUP = 500;

type Statuses = Map<string, string | undefined>;

const groups = new WeakMap<EngineState, Groups<{ kind: ParentKind; ids: string[] }, Statuses>>();

/** One check for a group's parents (all of one kind): each caller gets its own parents' statuses. */
async function checkGroup(w: EngineState, group: { kind: ParentKind; ids: string[] }[]): Promise<Statuses[]> {
  const ids = [...new Set(group.flatMap((g) => g.ids))];
  const found = await w.parent(group[0]!.kind).finishIfDone(w.deps.db, ids, w.deps.clock.now());
  return group.map((g) => new Map(g.ids.map((id) => [id, found.get(id)])));
}

/** Each parent's status as the check left it (undefined: not known). */
export function finishIfDone(w: EngineState, ownerId: string, kind: ParentKind, ids: string[]): Promise<Statuses> {
  if (ids.length === 0) return Promise.resolve(new Map());
  let g = groups.get(w);
  if (!g) {
    g = new Groups(
      (_, group) => checkGroup(w, group),
      (c) => c.ids.length,
      MAX_GROUP,
    );
    groups.set(w, g);
  }
  return g.call(`${ownerId}\n${kind}`, { kind, ids });
}

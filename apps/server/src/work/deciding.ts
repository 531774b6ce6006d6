/**
 * Results that decide their subtask alone (sql/decide.ts), grouped across
 * requests: group commit (groups.ts), as the joins do. While an owner's
 * decide statement runs, the results its workers post meanwhile wait and go
 * together in the next one, so a fleet of unbatched workers gets a batch's
 * statements and commits. Each caller is answered after the statement its
 * results went in committed, with the rows of its own results it decided.
 */
import { Groups } from './groups.ts';
import type { Completion } from './sql/complete.ts';
import type { EngineState } from './state.ts';
import type { SubtaskRow } from './subtasks.ts';

/** Results in one statement at most: a larger group waits for the next. */
const MAX_GROUP = 500;

/** One statement for a group of callers' results: each caller gets the rows of its own that decided their subtask. */
async function decideGroup(w: EngineState, ownerId: string, group: Completion[][]): Promise<SubtaskRow[][]> {
  // One result a subtask in the statement (the first caller's): another caller's for the same subtask is left to
  // the general path, which answers it (already recorded, or refused).
  const whose = new Map<string, number>();
  const completions: Completion[] = [];
  group.forEach((caller, i) => {
    for (const c of caller) {
      if (whose.has(c.subtaskId)) continue;
      whose.set(c.subtaskId, i);
      completions.push(c);
    }
  });
  const now = w.deps.clock.now();
  const parent = w.parent('execution').decidingAlone!(now);
  const rows = await w.deps.db.statement((q) => w.deps.sql.decideSubtasks(q, ownerId, completions, now, parent));
  const mine = group.map((): SubtaskRow[] => []);
  for (const s of rows) mine[whose.get(s.id)!]!.push(s);
  return mine;
}

/** Each engine's groups (an engine per server; tests start several). */
const groups = new WeakMap<EngineState, Groups<Completion[], SubtaskRow[]>>();

/** These results, in the next decide statement of their owner: the rows of those that decided their subtask. */
export function decideGrouped(w: EngineState, ownerId: string, completions: Completion[]): Promise<SubtaskRow[]> {
  let g = groups.get(w);
  if (!g) {
    g = new Groups(
      (ownerId, group) => decideGroup(w, ownerId, group),
      (c) => c.length,
      MAX_GROUP,
    );
    groups.set(w, g);
  }
  return g.call(ownerId, completions);
}

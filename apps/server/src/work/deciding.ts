/**
 * Results that decide their subtask alone (sql/decide.ts), grouped across
 * requests: group commit, as the joins do. While an owner's decide
 * statement runs, the results its workers post meanwhile wait and go
 * together in the next one, so a fleet of unbatched workers gets a batch's
 * statements and commits. Nothing waits when nothing runs: a lone result
 * goes at once. Each caller is answered after the statement its results
 * went in committed, with the rows of its own results it decided.
 */
import type { Completion } from './sql/complete.ts';
import type { EngineState } from './state.ts';
import type { SubtaskRow } from './subtasks.ts';

/** Results in one statement at most: a larger group waits for the next. */
const MAX_GROUP = 500;

interface Waiting {
  completions: Completion[];
  resolve: (rows: SubtaskRow[]) => void;
  reject: (error: unknown) => void;
}

class DecideGroups {
  private readonly waiting = new Map<string, Waiting[]>();
  private readonly running = new Set<string>();

  constructor(private readonly w: EngineState) {}

  /** The rows of these results that decided their subtask (the rest: left as they were). */
  decide(ownerId: string, completions: Completion[]): Promise<SubtaskRow[]> {
    return new Promise<SubtaskRow[]>((resolve, reject) => {
      const queue = this.waiting.get(ownerId) ?? [];
      this.waiting.set(ownerId, queue);
      queue.push({ completions, resolve, reject });
      if (!this.running.has(ownerId)) void this.run(ownerId);
    });
  }

  private async run(ownerId: string): Promise<void> {
    this.running.add(ownerId);
    try {
      for (let queue = this.waiting.get(ownerId); queue?.length; queue = this.waiting.get(ownerId)) {
        let [size, take] = [0, 0];
        while (take < queue.length && (take === 0 || size + queue[take]!.completions.length <= MAX_GROUP))
          size += queue[take++]!.completions.length;
        const group = queue.splice(0, take);
        if (queue.length === 0) this.waiting.delete(ownerId);
        await this.decideGroup(ownerId, group);
      }
    } finally {
      this.running.delete(ownerId);
    }
  }

  private async decideGroup(ownerId: string, group: Waiting[]): Promise<void> {
    // One result a subtask in the statement (the first caller's): another caller's for the same subtask is left to
    // the general path, which answers it (already recorded, or refused).
    const whose = new Map<string, Waiting>();
    const completions: Completion[] = [];
    for (const caller of group)
      for (const c of caller.completions) {
        if (whose.has(c.subtaskId)) continue;
        whose.set(c.subtaskId, caller);
        completions.push(c);
      }
    try {
      const { w } = this;
      const now = w.deps.clock.now();
      const parent = w.parent('execution').decidingAlone!(now);
      const rows = await w.deps.db.statement((q) => w.deps.sql.decideSubtasks(q, ownerId, completions, now, parent));
      const mine = new Map<Waiting, SubtaskRow[]>(group.map((caller) => [caller, []]));
      for (const s of rows) mine.get(whose.get(s.id)!)!.push(s);
      for (const [caller, decided] of mine) caller.resolve(decided);
    } catch (error) {
      for (const caller of group) caller.reject(error);
    }
  }
}

/** Each engine's groups (an engine per server; tests start several). */
const groups = new WeakMap<EngineState, DecideGroups>();

/** These results, in the next decide statement of their owner: the rows of those that decided their subtask. */
export function decideGrouped(w: EngineState, ownerId: string, completions: Completion[]): Promise<SubtaskRow[]> {
  let g = groups.get(w);
  if (!g) {
    g = new DecideGroups(w);
    groups.set(w, g);
  }
  return g.decide(ownerId, completions);
}

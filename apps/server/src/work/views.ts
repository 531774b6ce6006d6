/**
 * What the engine says about the parents of its subtasks: their ids by kind,
 * their descriptions (for claims, lease views and live views), and the
 * `work.changed` events that refresh live views.
 */
import type { Sql } from '../db/sql.ts';
import type { ServerEvent } from '../events.ts';
import type { ParentDescription, ParentKind, SubtaskRef } from './parent.ts';
import { parentOf } from './parent.ts';
import type { EngineState } from './state.ts';
import type { SubtaskRow } from './subtasks.ts';

export function idsByKind(rows: readonly SubtaskRef[]): Map<ParentKind, string[]> {
  const ids = new Map<ParentKind, Set<string>>();
  for (const s of rows) {
    const of = parentOf(s);
    if (!of) continue;
    const set = ids.get(of.kind) ?? new Set<string>();
    ids.set(of.kind, set);
    set.add(of.id);
  }
  return new Map([...ids].map(([kind, set]) => [kind, [...set].sort()]));
}

export async function describe(
  w: EngineState,
  sql: Sql,
  rows: readonly SubtaskRef[],
  withStatus = false,
): Promise<Map<string, ParentDescription>> {
  const about = new Map<string, ParentDescription>();
  for (const [kind, ids] of idsByKind(rows))
    for (const [id, d] of await w.parent(kind).describe(sql, ids, withStatus, rows)) about.set(id, d);
  return about;
}

/** Tell live views that work moved (after the change committed). */
export function announce(w: EngineState, change: Omit<Extract<ServerEvent, { kind: 'work.changed' }>, 'kind'>): void {
  w.deps.events.publish({ kind: 'work.changed', ...change });
}

/** Tell live views that these subtasks' parents moved, each event to its owner's. */
export async function changed(w: EngineState, rows: SubtaskRow[]): Promise<void> {
  const about = await w.deps.db.run((_, sql) => describe(w, sql, rows));
  for (const s of rows) {
    const d = about.get(parentOf(s)?.id ?? '');
    w.deps.events.publish({
      kind: 'work.changed',
      owner_id: s.ownerId,
      network_id: d?.network_id ?? null,
      execution_id: d?.execution_id ?? null,
      swarm_id: d?.swarm_id ?? null,
      task_id: d?.task_id ?? null,
    });
  }
}

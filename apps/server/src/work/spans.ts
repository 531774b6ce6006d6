/**
 * The engine's spans (tracing on only): claims, results, failures and
 * sweeps, each under the trace of the task its subtasks belong to.
 */
import type { Attributes } from '@opentelemetry/api';
import type { ParentKind } from './parent.ts';
import { parentOf } from './parent.ts';
import type { EngineState } from './state.ts';
import type { SubtaskRow } from './subtasks.ts';
import { idsByKind } from './views.ts';

/**
 * One span per task these subtasks belong to, under that task's trace and
 * linked to the current request's span (tracing on only; never delays the
 * caller). Attributes: the task's ids, the subtasks and who holds them.
 */
export function traceWork(w: EngineState, name: string, rows: SubtaskRow[], start: Date, attributes: Attributes = {}): void {
  if (!w.tracing.enabled || rows.length === 0) return;
  for (const [kind, ids] of idsByKind(rows)) {
    traceTasks(w, name, kind, ids, start, (id) => {
      const mine = rows.filter((r) => parentOf(r)?.id === id);
      const holders = [...new Set(mine.flatMap((r) => (r.assigneeId ? [r.assigneeId] : [])))];
      return {
        'aitbc.subtask_ids': mine.map((r) => r.id),
        [kind === 'execution' ? 'aitbc.agent_ids' : 'aitbc.member_ids']: holders,
        ...attributes,
      };
    });
  }
}

/** A span for each of these tasks (executions or coordinations), under the task's own trace. */
export function traceTasks(
  w: EngineState,
  name: string,
  kind: ParentKind,
  ids: string[],
  start: Date,
  attributes: (id: string) => Attributes,
): void {
  if (!w.tracing.enabled || ids.length === 0) return;
  const parent = w.parent(kind);
  const spans = w.deps.db.run(async (_, sql) => {
    const [traces, about] = await Promise.all([parent.traceParents(sql, ids), parent.describe(sql, ids, false)]);
    for (const id of ids) {
      const d = about.get(id);
      const task = d?.task_id ? { 'aitbc.task_id': d.task_id, 'aitbc.swarm_id': d.swarm_id ?? '' } : {};
      const execution = d?.execution_id ? { 'aitbc.execution_id': d.execution_id, 'aitbc.network_id': d.network_id ?? '' } : {};
      w.tracing.record(name, { ...task, ...execution, ...attributes(id) }, start, traces.get(id) ?? null);
    }
  });
  spans.catch(() => {});
}

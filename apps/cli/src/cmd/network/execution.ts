import type { ExecutionSummary, ExecutionView, SubtaskView } from '@aitbc/core';
import type { Command } from 'commander';
import { backupsText, type Column, formatValue, renderFields, renderTable } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { networkIdOf } from '../../refs.ts';
import { validationText, verificationFields } from '../../verification.ts';

export interface ExecutionRef {
  /** The network id. */
  id: string;
  executionId: string;
}

export async function runNetworkExecution(options: ExecutionRef, session: Pick<Session, 'client'>): Promise<ExecutionView> {
  return session.client.execution.get.query({ network_id: await networkIdOf(options.id, session), execution_id: options.executionId });
}

/** `7/10` and what failed: `7/10, 1 failed`. */
export function progressText(progress: ExecutionSummary['progress']): string {
  return `${progress.completed}/${progress.total}${progress.failed ? `, ${progress.failed} failed` : ''}`;
}

/** Only the values that are set: a queued execution has no completion time, an execution without `reduce` no reduction. */
function present(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== null && v !== undefined));
}

export function executionFields(e: ExecutionSummary): Record<string, unknown> {
  return present({
    id: e.id,
    execution_id: e.execution_id,
    network_id: e.network_id,
    status: e.status,
    priority: e.priority,
    progress: progressText(e.progress),
    backups: backupsText(e.speculation),
    error: e.error,
    created_at: e.created_at,
    started_at: e.started_at,
    completed_at: e.completed_at,
  });
}

const planColumns: Column<SubtaskView>[] = [
  { header: 'SEQ', value: (s) => s.seq },
  { header: 'REPLICA', value: (s) => s.replica },
  { header: 'ASSIGNEE', value: (s) => s.assignee_id },
  { header: 'STATUS', value: (s) => s.status },
];

/** A submitted execution: what it is, and which agent each subtask went to. */
export function renderPlannedExecution(e: ExecutionView): string {
  return renderFields(executionFields(e)) + (e.subtasks.length ? '\n' + renderTable(e.subtasks, planColumns) : '');
}

const outcome = (s: SubtaskView): unknown => (s.status === 'completed' ? formatValue(s.result) : s.error);

const resultColumns: Column<SubtaskView>[] = [
  { header: 'SEQ', value: (s) => s.seq },
  { header: 'REPLICA', value: (s) => s.replica },
  { header: 'STATUS', value: (s) => s.status },
  { header: 'ATTEMPTS', value: (s) => s.attempts },
  { header: 'RESULT', value: outcome, flex: true },
];
const acceptedColumn: Column<SubtaskView> = { header: 'ACCEPTED', value: (s) => (s.accepted ? 'yes' : '') };
const validationColumn: Column<SubtaskView> = { header: 'VALIDATION', value: validationText };

/** An execution with its results: status and progress, the reduction, then each subtask's result or error. */
export function renderExecution(e: ExecutionView): string {
  const results = e.results;
  const reduction = results?.reduce
    ? present({
        reduce: results.reduce,
        reduced: 'reduced' in results ? formatValue(results.reduced) : undefined,
        reduce_error: results.reduce_error,
      })
    : {};
  const replicated = e.subtasks.some((s) => s.replica > 0);
  // Under a verification policy, each copy's validation (README "Verification").
  const checked = e.verification ? [validationColumn] : [];
  const columns =
    replicated || checked.length ? [...resultColumns.slice(0, 4), acceptedColumn, ...checked, resultColumns[4]!] : resultColumns;
  const inconclusive = results?.inconclusive?.length ? { inconclusive: results.inconclusive.join(', ') } : {};
  const verification = verificationFields(e.verification);
  return (
    renderFields({ ...executionFields(e), ...verification, ...reduction, ...inconclusive }) +
    (e.subtasks.length ? '\n' + renderTable(e.subtasks, columns) : '')
  );
}

export function addNetworkExecution(network: Command, deps: CliDeps): void {
  network
    .command('execution')
    .description("show one execution with its subtasks' results")
    .argument('<network>', 'the network: its id or name')
    .argument('<execution-id>', 'the execution id')
    .action(
      withSession(deps, async (session, command) => {
        const [id, executionId] = command.processedArgs as [string, string];
        session.show(await runNetworkExecution({ id, executionId }, session), renderExecution);
      }),
    );
}

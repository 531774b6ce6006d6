import type { RedriveView } from '@aitbc/core';
import type { Command } from 'commander';
import { UsageError } from '../../failure.ts';
import { commaList } from '../../flags.ts';
import { networkIdOf } from '../../refs.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export interface DeadLettersRedriveOptions {
  execution?: string;
  network?: string;
  /** These dead letters (subtask ids). */
  subtasks?: string[];
  error?: string;
  /** Every dead letter of the caller's: asked for explicitly, never the default of no filter. */
  all?: boolean;
}

/** Runs the selected dead letters' executions again; a redrive with no selection must say --all. */
export async function runDeadLettersRedrive(options: DeadLettersRedriveOptions, session: Pick<Session, 'client'>): Promise<RedriveView> {
  const selected =
    options.execution !== undefined || options.network !== undefined || options.subtasks !== undefined || options.error !== undefined;
  if (!selected && !options.all)
    throw new UsageError('say which dead letters to run again: --execution, --network, --subtasks or --error, or --all for every one');
  if (selected && options.all)
    throw new UsageError('--all runs every dead letter again: give it alone, without --execution, --network, --subtasks or --error');
  return session.client.deadLetter.redrive.mutate({
    ...(options.execution !== undefined ? { execution_id: options.execution } : {}),
    ...(options.network !== undefined ? { network_id: await networkIdOf(options.network, session) } : {}),
    ...(options.subtasks !== undefined ? { subtask_ids: options.subtasks } : {}),
    ...(options.error !== undefined ? { error: options.error } : {}),
  });
}

export function renderRedrive(view: RedriveView): string {
  const lines = view.redriven.map(
    (r) => `execution ${r.execution_id}: running again, ${r.subtasks} subtask${r.subtasks === 1 ? '' : 's'} queued`,
  );
  for (const s of view.skipped) lines.push(`execution ${s.execution_id}: skipped: ${s.reason}`);
  if (lines.length === 0) lines.push('no dead letter matched: nothing ran again');
  return `${lines.join('\n')}\n`;
}

export function addDeadLettersRedrive(command: Command, deps: CliDeps): void {
  command
    .command('redrive')
    .description(
      'run dead letters again once the cause is fixed: each failed execution runs on, its undecided subtasks with fresh attempts',
    )
    .option('--execution <id>', "this execution's")
    .option('--network <id-or-name>', "this network's")
    .option('--subtasks <ids>', 'these dead letters, comma-separated subtask ids', commaList)
    .option('--error <text>', 'those whose last error contains this text')
    .option('--all', 'every one of your dead letters')
    .action(
      withSession(deps, async (session, cmd) => {
        session.show(await runDeadLettersRedrive(cmd.opts<DeadLettersRedriveOptions>(), session), renderRedrive);
      }),
    );
}

import type { DeadLetterView } from '@aitbc/core';
import type { Command } from 'commander';
import { integerFrom } from '../../flags.ts';
import { type Column, renderTable } from '../../output.ts';
import { networkIdOf } from '../../refs.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export interface DeadLettersListOptions {
  /** Only this network's (id or name). */
  network?: string;
  execution?: string;
  /** Only those whose last error contains this text. */
  error?: string;
  limit?: number;
  cursor?: string;
}

export interface DeadLetterPage {
  dead_letters: DeadLetterView[];
  next_cursor: string | null;
}

/** One page of the caller's dead letters, newest first. */
export async function runDeadLettersList(options: DeadLettersListOptions, session: Pick<Session, 'client'>): Promise<DeadLetterPage> {
  return session.client.deadLetter.list.query({
    ...(options.network !== undefined ? { network_id: await networkIdOf(options.network, session) } : {}),
    ...(options.execution !== undefined ? { execution_id: options.execution } : {}),
    ...(options.error !== undefined ? { error: options.error } : {}),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    ...(options.cursor !== undefined ? { cursor: options.cursor } : {}),
  });
}

/** The error is what matters: it takes the width the ids leave (-o json has everything whole). */
export function renderDeadLetters(page: DeadLetterPage): string {
  const n = page.dead_letters.length;
  const columns: Column<DeadLetterView>[] = [
    { header: 'FAILED', value: (d) => d.failed_at },
    { header: 'EXECUTION', value: (d) => d.execution_id, flex: true },
    { header: 'SUBTASK', value: (d) => d.subtask_id, flex: true },
    { header: 'SEQ', value: (d) => d.seq },
    { header: 'ATTEMPTS', value: (d) => d.attempts },
    { header: 'LAST ERROR', value: (d) => d.error, flex: true },
  ];
  const table = n ? renderTable(page.dead_letters, columns) + '\n' : '';
  const more = page.next_cursor ? `\nnext page: the same command with --cursor ${page.next_cursor}` : '';
  const hint = n ? '\nrun them again once the cause is fixed: aitbc dead-letters redrive --execution EXECUTION_ID (or --all)' : '';
  return `${table}${n} dead letter${n === 1 ? '' : 's'}${more}${hint}\n`;
}

export function addDeadLettersList(command: Command, deps: CliDeps): void {
  command
    .command('list')
    .description('your subtasks that failed for good, failing their execution, newest first, each with its last error')
    .option('--network <id-or-name>', "only this network's")
    .option('--execution <id>', "only this execution's")
    .option('--error <text>', 'only those whose last error contains this text')
    .option('--limit <n>', 'per page (default 50, at most 500)', integerFrom(1, 500))
    .option('--cursor <cursor>', 'start after this next_cursor from a previous page')
    .action(
      withSession(deps, async (session, cmd) => {
        session.show(await runDeadLettersList(cmd.opts<DeadLettersListOptions>(), session), renderDeadLetters);
      }),
    );
}

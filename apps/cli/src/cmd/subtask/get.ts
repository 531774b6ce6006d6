import type { SubtaskHistory } from '@aitbc/core';
import type { Command } from 'commander';
import { type Column, renderFields, renderTable } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export async function runSubtaskGet(options: { id: string }, { client }: Pick<Session, 'client'>): Promise<SubtaskHistory> {
  return client.deadLetter.subtask.query({ subtask_id: options.id });
}

type Attempt = SubtaskHistory['history'][number];

/** The subtask's fields, then one line per attempt: who, how it ended, why. */
export function renderSubtask(s: SubtaskHistory): string {
  const { history, ...fields } = s;
  const columns: Column<Attempt>[] = [
    { header: 'STARTED', value: (a) => a.started_at },
    { header: 'ASSIGNEE', value: (a) => (a.backup ? `${a.assignee_id} (backup)` : a.assignee_id), flex: true },
    { header: 'OUTCOME', value: (a) => a.outcome },
    { header: 'ERROR', value: (a) => a.error, flex: true },
  ];
  const attempts = history.length ? `\n${renderTable(history, columns)}\n` : '\nno attempts yet\n';
  return renderFields(fields) + attempts;
}

export function addSubtaskGet(command: Command, deps: CliDeps): void {
  command
    .command('get')
    .description('a subtask and every attempt of it: who claimed it, how each attempt ended, and each error')
    .argument('<id>', 'the subtask id')
    .action(
      withSession(deps, async (session, cmd) => {
        session.show(await runSubtaskGet({ id: cmd.args[0]! }, session), renderSubtask);
      }),
    );
}

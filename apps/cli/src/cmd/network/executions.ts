import { EXECUTION_STATUSES, type ExecutionList, type ExecutionStatus, type ExecutionSummary } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { CliError } from '../../failure.ts';
import { integerFrom } from '../../flags.ts';
import { type Column, count, renderTable } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { progressText } from './execution.ts';
import { networkIdOf } from '../../refs.ts';

export interface NetworkExecutionsOptions {
  id: string;
  status?: ExecutionStatus;
  limit?: number;
  cursor?: string;
  all?: boolean;
}

const PAGE_MAX = 500;

export async function runNetworkExecutions(options: NetworkExecutionsOptions, session: Pick<Session, 'client'>): Promise<ExecutionList> {
  const limit = options.limit ?? (options.all ? PAGE_MAX : undefined);
  const networkId = await networkIdOf(options.id, session);
  const query = (cursor: string | undefined) =>
    session.client.execution.list.query({
      network_id: networkId,
      ...(options.status ? { status: options.status } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
    });
  let page = await query(options.cursor);
  if (!options.all) return page;
  const executions = [...page.executions];
  while (page.next_cursor) {
    const cursor: string = page.next_cursor;
    page = await query(cursor);
    if (page.next_cursor === cursor) throw new CliError('the server returned the same page twice; stopping');
    executions.push(...page.executions);
  }
  return { executions, total_count: page.total_count, next_cursor: null };
}

const columns: Column<ExecutionSummary>[] = [
  { header: 'ID', value: (e) => e.id },
  { header: 'STATUS', value: (e) => e.status },
  { header: 'PRIORITY', value: (e) => e.priority },
  { header: 'PROGRESS', value: (e) => progressText(e.progress) },
  { header: 'CREATED', value: (e) => e.created_at },
];

export function renderExecutionList(list: ExecutionList, networkId: string): string {
  const table = list.executions.length ? renderTable(list.executions, columns) + '\n' : '';
  const more = list.next_cursor ? `\nnext page: aitbc agent network executions ${networkId} --cursor ${list.next_cursor}` : '';
  return `${table}${list.executions.length} of ${count(list.total_count, 'execution')}${more}\n`;
}

export function addNetworkExecutions(network: Command, deps: CliDeps): void {
  network
    .command('executions')
    .description("list a network's executions, newest first")
    .argument('<network>', 'the network: its id or name')
    .addOption(new Option('--status <status>', 'only executions with this status').choices(EXECUTION_STATUSES))
    .option('--limit <n>', 'executions per page (default 50, at most 500)', integerFrom(1, PAGE_MAX))
    .option('--cursor <cursor>', 'start after this next_cursor from a previous page')
    .option('--all', 'follow the pages to the end')
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        const list = await runNetworkExecutions({ ...command.opts<Omit<NetworkExecutionsOptions, 'id'>>(), id }, session);
        session.show(list, (l) => renderExecutionList(l, id));
      }),
    );
}

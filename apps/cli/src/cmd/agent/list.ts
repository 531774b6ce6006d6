import { AGENT_STATUSES, type AgentList, type AgentStatus, type AgentView } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { CliError } from '../../failure.ts';
import { integerFrom } from '../../flags.ts';
import { type Column, count, renderTable } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export interface AgentListOptions {
  status?: AgentStatus;
  /** Page size (the server's default is 50, its maximum 500). */
  limit?: number;
  cursor?: string;
  /** Follow next_cursor to the last page and return every agent. */
  all?: boolean;
}

const PAGE_MAX = 500;

/** One page, or with `all` every page after `cursor` joined into one list (next_cursor null). */
export async function runAgentList(options: AgentListOptions, { client }: Pick<Session, 'client'>): Promise<AgentList> {
  const limit = options.limit ?? (options.all ? PAGE_MAX : undefined);
  const query = (cursor: string | undefined) =>
    client.agent.list.query({
      ...(options.status ? { status: options.status } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
    });
  let page = await query(options.cursor);
  if (!options.all) return page;
  const agents = [...page.agents];
  while (page.next_cursor) {
    const cursor: string = page.next_cursor;
    page = await query(cursor);
    if (page.next_cursor === cursor) throw new CliError('the server returned the same page twice; stopping');
    agents.push(...page.agents);
  }
  return { agents, total_count: page.total_count, next_cursor: null };
}

const columns: Column<AgentView>[] = [
  { header: 'ID', value: (a) => a.id },
  { header: 'NAME', value: (a) => a.name, flex: true },
  { header: 'STATUS', value: (a) => a.status },
  { header: 'CAPABILITIES', value: (a) => a.capabilities, flex: true },
];

export function renderAgentList(list: AgentList): string {
  const table = list.agents.length ? renderTable(list.agents, columns) + '\n' : '';
  const more = list.next_cursor ? `\nnext page: aitbc agent list --cursor ${list.next_cursor}` : '';
  return `${table}${list.agents.length} of ${count(list.total_count, 'agent')}${more}\n`;
}

export function addAgentList(agent: Command, deps: CliDeps): void {
  agent
    .command('list')
    .description('list your agents, newest first')
    .addOption(new Option('--status <status>', 'only agents with this status').choices(AGENT_STATUSES))
    .option('--limit <n>', 'agents per page (default 50, at most 500)', integerFrom(1, PAGE_MAX))
    .option('--cursor <cursor>', 'start after this next_cursor from a previous page')
    .option('--all', 'follow the pages to the end')
    .action(
      withSession(deps, async (session, command) => {
        session.show(await runAgentList(command.opts<AgentListOptions>(), session), renderAgentList);
      }),
    );
}

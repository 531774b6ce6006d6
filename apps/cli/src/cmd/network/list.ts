import { NETWORK_STATUSES, type NetworkList, type NetworkStatus, type NetworkView } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { CliError } from '../../failure.ts';
import { integerFrom } from '../../flags.ts';
import { type Column, count, renderTable } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export interface NetworkListOptions {
  /** Without it, every network but the archived ones. */
  status?: NetworkStatus;
  limit?: number;
  cursor?: string;
  /** Follow next_cursor to the last page. */
  all?: boolean;
}

const PAGE_MAX = 500;

export async function runNetworkList(options: NetworkListOptions, { client }: Pick<Session, 'client'>): Promise<NetworkList> {
  const limit = options.limit ?? (options.all ? PAGE_MAX : undefined);
  const query = (cursor: string | undefined) =>
    client.network.list.query({
      ...(options.status ? { status: options.status } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
    });
  let page = await query(options.cursor);
  if (!options.all) return page;
  const networks = [...page.networks];
  while (page.next_cursor) {
    const cursor: string = page.next_cursor;
    page = await query(cursor);
    if (page.next_cursor === cursor) throw new CliError('the server returned the same page twice; stopping');
    networks.push(...page.networks);
  }
  return { networks, total_count: page.total_count, next_cursor: null };
}

const columns: Column<NetworkView>[] = [
  { header: 'ID', value: (n) => n.id },
  { header: 'NAME', value: (n) => n.name, flex: true },
  { header: 'STRATEGY', value: (n) => n.coordination_strategy },
  { header: 'STATUS', value: (n) => n.status },
  { header: 'AGENTS', value: (n) => n.agents.length },
];

export function renderNetworkList(list: NetworkList): string {
  const table = list.networks.length ? renderTable(list.networks, columns) + '\n' : '';
  const more = list.next_cursor ? `\nnext page: aitbc agent network list --cursor ${list.next_cursor}` : '';
  return `${table}${list.networks.length} of ${count(list.total_count, 'network')}${more}\n`;
}

export function addNetworkList(network: Command, deps: CliDeps): void {
  network
    .command('list')
    .description('list your agent networks, newest first (archived ones only with --status archived)')
    .addOption(new Option('--status <status>', 'only networks with this status').choices(NETWORK_STATUSES))
    .option('--limit <n>', 'networks per page (default 50, at most 500)', integerFrom(1, PAGE_MAX))
    .option('--cursor <cursor>', 'start after this next_cursor from a previous page')
    .option('--all', 'follow the pages to the end')
    .action(
      withSession(deps, async (session, command) => {
        session.show(await runNetworkList(command.opts<NetworkListOptions>(), session), renderNetworkList);
      }),
    );
}

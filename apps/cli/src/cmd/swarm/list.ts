import { SWARM_STATUSES, type SwarmList, type SwarmView } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { integerFrom } from '../../flags.ts';
import { type Column, count, renderTable } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export interface SwarmListOptions {
  swarmId?: string;
  status?: (typeof SWARM_STATUSES)[number];
  /** Swarms per page (default 20, as in the legacy CLI). */
  limit?: number;
  cursor?: string;
}

export const DEFAULT_LIST_LIMIT = 20;
const PAGE_MAX = 500;

export function runSwarmList(options: SwarmListOptions, { client }: Pick<Session, 'client'>): Promise<SwarmList> {
  return client.swarm.list.query({
    limit: options.limit ?? DEFAULT_LIST_LIMIT,
    ...(options.swarmId !== undefined ? { swarm_id: options.swarmId } : {}),
    ...(options.status !== undefined ? { status: options.status } : {}),
    ...(options.cursor !== undefined ? { cursor: options.cursor } : {}),
  });
}

/** `4/5`: active members of those that have not left. */
export function memberShare(c: SwarmView['member_counts']): string {
  return `${c.active}/${c.active + c.suspect + c.failed}`;
}

const columns: Column<SwarmView>[] = [
  { header: 'ID', value: (s) => s.swarm_id },
  { header: 'CAPABILITY', value: (s) => s.capability },
  { header: 'STATUS', value: (s) => s.status },
  { header: 'MEMBERS', value: (s) => memberShare(s.member_counts) },
  { header: 'COORDINATION', value: (s) => s.coordination_status },
];

export function renderSwarmList(list: SwarmList): string {
  const table = list.swarms.length ? renderTable(list.swarms, columns) + '\n' : '';
  const more = list.next_cursor ? `\nnext page: aitbc swarm list --cursor ${list.next_cursor}` : '';
  return `${table}${list.swarms.length} of ${count(list.total_count, 'swarm')}${more}\n`;
}

export function addSwarmList(swarm: Command, deps: CliDeps): void {
  swarm
    .command('list')
    .description('list your swarms, newest first, with their members (active/total)')
    .option('--swarm-id <id>', 'only this swarm')
    .addOption(new Option('--status <status>', 'only swarms with this status').choices(SWARM_STATUSES))
    .option('--limit <n>', `swarms per page (default ${DEFAULT_LIST_LIMIT}, at most ${PAGE_MAX})`, integerFrom(1, PAGE_MAX))
    .option('--cursor <cursor>', 'start after this next_cursor from a previous page')
    .action(
      withSession(deps, async (session, command) => {
        session.show(await runSwarmList(command.opts<SwarmListOptions>(), session), renderSwarmList);
      }),
    );
}

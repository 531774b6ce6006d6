import type { HostList, HostView } from '@aitbc/core';
import type { Command } from 'commander';
import { integerFrom } from '../../flags.ts';
import { type Column, renderTable } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export interface HostListOptions {
  /** Only the quarantined hosts. */
  quarantined?: boolean;
  limit?: number;
  cursor?: string;
}

export function runHostList(options: HostListOptions, { client }: Pick<Session, 'client'>): Promise<HostList> {
  return client.host.list.query({
    ...(options.quarantined ? { quarantined: true } : {}),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    ...(options.cursor !== undefined ? { cursor: options.cursor } : {}),
  });
}

/** `quarantined, 59 min left`, `on probation`, `trusted`, or `untrusted` (`now`: for the time left). */
export function hostState(h: HostView, now = Date.now()): string {
  if (h.quarantined && h.quarantined_until) {
    const minutes = Math.max(1, Math.ceil((new Date(h.quarantined_until).getTime() - now) / 60_000));
    return `quarantined, ${minutes} min left`;
  }
  if (h.probation_until && new Date(h.probation_until).getTime() > now) return 'on probation';
  return h.trusted ? 'trusted' : 'untrusted';
}

const columns: Column<HostView>[] = [
  { header: 'HOST ID', value: (h) => h.host_id, flex: true },
  { header: 'NAME', value: (h) => h.name ?? h.host ?? h.kind, flex: true },
  { header: 'STATE', value: (h) => hostState(h) },
  { header: 'VALID', value: (h) => h.valid },
  { header: 'INVALID', value: (h) => h.invalid },
  { header: 'RECENT', value: (h) => h.recent },
];

export function renderHostList(list: HostList): string {
  const n = list.hosts.length;
  const table = n ? `${renderTable(list.hosts, columns)}\n` : '';
  const more = list.next_cursor ? `\nnext page: the same command with --cursor ${list.next_cursor}` : '';
  return `${table}${n} of ${list.total_count} ${list.total_count === 1 ? 'host' : 'hosts'} with a validation record${more}\n`;
}

export function addHostList(hosts: Command, deps: CliDeps): void {
  hosts
    .command('list')
    .description('your hosts (agents and members) with a validation record: trust, probation, quarantine, checked results')
    .option('--quarantined', 'only the hosts quarantined now')
    .option('--limit <n>', 'page size (default 50)', integerFrom(1, 500))
    .option('--cursor <cursor>', 'next_cursor from the previous page')
    .action(
      withSession(deps, async (session, command) => {
        session.show(await runHostList(command.opts<HostListOptions>(), session), renderHostList);
      }),
    );
}

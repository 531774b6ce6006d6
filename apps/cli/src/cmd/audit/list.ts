import { AUDIT_ACTIONS, type AuditAction, type AuditEntry } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { CliError } from '../../failure.ts';
import { integerFrom } from '../../flags.ts';
import { type Column, renderTable } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export interface AuditListOptions {
  /** Admin keys: only this owner's entries. */
  owner?: string;
  action?: AuditAction;
  /** Only entries about this key, agent, network, execution, member or task. */
  target?: string;
  /** Page size (the server's default is 50, its maximum 500). */
  limit?: number;
  cursor?: string;
  /** Follow next_cursor to the last page and return every entry. */
  all?: boolean;
}

export interface AuditPage {
  entries: AuditEntry[];
  next_cursor: string | null;
}

const PAGE_MAX = 500;

/** One page of the audit log, newest first, or with `all` every page after `cursor` joined into one list (next_cursor null). */
export async function runAuditList(options: AuditListOptions, { client }: Pick<Session, 'client'>): Promise<AuditPage> {
  const limit = options.limit ?? (options.all ? PAGE_MAX : undefined);
  const query = (cursor: string | undefined): Promise<AuditPage> =>
    client.audit.list.query({
      ...(options.owner !== undefined ? { owner_id: options.owner } : {}),
      ...(options.action ? { action: options.action } : {}),
      ...(options.target !== undefined ? { target_id: options.target } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
    });
  let page = await query(options.cursor);
  if (!options.all) return page;
  const entries = [...page.entries];
  while (page.next_cursor) {
    const cursor: string = page.next_cursor;
    page = await query(cursor);
    if (page.next_cursor === cursor) throw new CliError('the server returned the same page twice; stopping');
    entries.push(...page.entries);
  }
  return { entries, next_cursor: null };
}

/** Who did it: the acting owner, and the key (none for keys configured through AITBC_ADMIN_API_KEYS). */
function byText(e: AuditEntry): string {
  return e.actor_key_id ? `${e.actor_owner_id}/${e.actor_key_id}` : e.actor_owner_id;
}

/**
 * When and what stay whole; the ids give up width, widest first, to fit 80
 * columns (-o json has them whole). OWNER only when the entries are more than
 * one owner's: the count below names the one owner otherwise.
 */
export function renderAuditList(page: AuditPage): string {
  const n = page.entries.length;
  const owners = [...new Set(page.entries.map((e) => e.owner_id))];
  const columns: Column<AuditEntry>[] = [
    { header: 'WHEN', value: (e) => e.at },
    { header: 'ACTION', value: (e) => e.action },
    { header: 'TARGET', value: (e) => e.target_id, flex: true },
    ...(owners.length > 1 ? [{ header: 'OWNER', value: (e: AuditEntry) => e.owner_id, flex: true }] : []),
    { header: 'BY', value: byText, flex: true },
    { header: 'IP', value: (e) => e.ip, flex: true },
    { header: 'REQUEST ID', value: (e) => e.request_id, flex: true },
  ];
  const table = n ? renderTable(page.entries, columns) + '\n' : '';
  const whose = owners.length === 1 ? ` of ${owners[0]}` : '';
  const more = page.next_cursor ? `\nnext page: the same command with --cursor ${page.next_cursor} (or --all)` : '';
  return `${table}${n} ${n === 1 ? 'entry' : 'entries'}${whose}${more}\n`;
}

export function addAuditList(audit: Command, deps: CliDeps): void {
  audit
    .command('list')
    .description("the audit log, newest first: your owner's entries (admin keys: every owner's); -o json shows every field whole")
    .option('--owner <name>', "only this owner's entries (admin keys)")
    .addOption(new Option('--action <action>', 'only this action').choices(AUDIT_ACTIONS))
    .option('--target <id>', 'only entries about this key, agent, network, execution, member or task')
    .option('--limit <n>', 'entries per page (default 50, at most 500)', integerFrom(1, PAGE_MAX))
    .option('--cursor <cursor>', 'start after this next_cursor from a previous page')
    .option('--all', 'follow the pages to the end')
    .action(
      withSession(deps, async (session, command) => {
        session.show(await runAuditList(command.opts<AuditListOptions>(), session), renderAuditList);
      }),
    );
}

import type { KeyView } from '@aitbc/core';
import type { Command } from 'commander';
import { type Column, count, renderTable } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export interface KeysListOptions {
  owner?: string;
  includeRevoked?: boolean;
}

/** Every matching key: keys are few, so this follows the pages to the end. */
export async function runKeysList(options: KeysListOptions, { client }: Pick<Session, 'client'>): Promise<{ keys: KeyView[] }> {
  const keys: KeyView[] = [];
  let cursor: string | null = null;
  do {
    const page: { keys: KeyView[]; next_cursor: string | null } = await client.key.list.query({
      limit: 500,
      ...(options.owner !== undefined ? { owner_id: options.owner } : {}),
      ...(options.includeRevoked ? { include_revoked: true } : {}),
      ...(cursor ? { cursor } : {}),
    });
    keys.push(...page.keys);
    cursor = page.next_cursor;
  } while (cursor);
  return { keys };
}

const columns: Column<KeyView>[] = [
  { header: 'ID', value: (k) => k.id },
  { header: 'PREFIX', value: (k) => k.prefix },
  { header: 'OWNER', value: (k) => k.owner_id, flex: true },
  { header: 'ROLE', value: (k) => k.role },
];
const stateColumn: Column<KeyView> = { header: 'STATE', value: (k) => (k.revoked_at ? 'revoked' : 'active') };
// Last, and never cut short: a label is how a person tells keys apart, so a long one runs on past the table.
const labelColumn: Column<KeyView> = { header: 'LABEL', value: (k) => k.label };

export function renderKeyList({ keys }: { keys: KeyView[] }): string {
  if (!keys.length) return 'No API keys.\n';
  const revoked = keys.filter((k) => k.revoked_at).length;
  const table = renderTable(keys, [...columns, ...(revoked ? [stateColumn] : []), labelColumn]);
  return `${table}\n${count(keys.length, 'key')}${revoked ? ` (${revoked} revoked)` : ''}\n`;
}

export function addKeysList(keys: Command, deps: CliDeps): void {
  keys
    .command('list')
    .description('list API keys, newest first (needs an admin key; never shows the keys themselves)')
    .option('--owner <name>', "only this owner's keys")
    .option('--include-revoked', 'also list revoked keys')
    .action(
      withSession(deps, async (session, command) => {
        session.show(await runKeysList(command.opts<KeysListOptions>(), session), renderKeyList);
      }),
    );
}

import type { KeyView } from '@aitbc/core';
import type { Command } from 'commander';
import { agoText, type Column, count, expiresText, formatValue, renderTable, TERMINAL_WIDTH } from '../../output.ts';
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

const GAP = 2;
const MIN_FLEX_WIDTH = 4;

/** The narrowest a column can be drawn: its widest cell, or (flexible columns) 4 characters. */
function narrowest<T>(rows: readonly T[], column: Column<T>): number {
  const widest = Math.max(column.header.length, ...rows.map((r) => [...formatValue(column.value(r))].length));
  return column.flex ? Math.min(widest, MIN_FLEX_WIDTH) : widest;
}

/**
 * The key list. Ids stay whole (they are what revoke and rotate take), and so
 * does the label, last: it is how a person tells keys apart, so a long one
 * runs on past the table. Everything before the label fits 80 columns: the
 * OWNER column only when the keys are more than one owner's (the count below
 * names the one owner otherwise), and LAST USED, then EXPIRES, left out when
 * there is no room for them.
 */
export function renderKeyList({ keys }: { keys: KeyView[] }, now = Date.now()): string {
  if (!keys.length) return 'No API keys.\n';
  const revoked = keys.filter((k) => k.revoked_at).length;
  const owners = [...new Set(keys.map((k) => k.owner_id))];
  const expires: Column<KeyView> = { header: 'EXPIRES', value: (k) => expiresText(k.expires_at, now) };
  const lastUsed: Column<KeyView> = { header: 'LAST USED', value: (k) => agoText(k.last_used_at, now) };
  const optional = [expires, lastUsed];
  const columnsNow = (): Column<KeyView>[] => [
    { header: 'ID', value: (k) => k.id },
    ...(owners.length > 1 ? [{ header: 'OWNER', value: (k: KeyView) => k.owner_id, flex: true }] : []),
    { header: 'SCOPE', value: (k) => k.scope },
    ...optional,
    ...(revoked ? [{ header: 'STATE', value: (k: KeyView) => (k.revoked_at ? 'revoked' : 'active') }] : []),
  ];
  // The label's header, at least, follows the other columns on every line.
  const width = (columns: Column<KeyView>[]) => columns.reduce((sum, c) => sum + narrowest(keys, c) + GAP, 0) + 'LABEL'.length;
  while (optional.length && width(columnsNow()) > TERMINAL_WIDTH) optional.pop();
  // Flexible columns give up width for the part before the label only.
  const labelWidth = Math.max('LABEL'.length, ...keys.map((k) => [...formatValue(k.label)].length));
  const table = renderTable(
    keys,
    [...columnsNow(), { header: 'LABEL', value: (k) => k.label }],
    TERMINAL_WIDTH + labelWidth - 'LABEL'.length,
  );
  const whose = owners.length === 1 ? ` of ${owners[0]}` : '';
  return `${table}\n${count(keys.length, 'key')}${whose}${revoked ? ` (${revoked} revoked)` : ''}\n`;
}

export function addKeysList(keys: Command, deps: CliDeps): void {
  keys
    .command('list')
    .description("list API keys, newest first: your owner's (admin keys: every owner's); never shows the keys themselves")
    .option('--owner <name>', "only this owner's keys (admin keys)")
    .option('--include-revoked', 'also list revoked keys')
    .action(
      withSession(deps, async (session, command) => {
        session.show(await runKeysList(command.opts<KeysListOptions>(), session), (list) => renderKeyList(list));
      }),
    );
}

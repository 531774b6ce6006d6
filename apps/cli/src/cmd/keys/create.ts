import { KEY_ROLES, type KeyCreated, type KeyRole } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export interface KeysCreateOptions {
  owner: string;
  role?: KeyRole;
  label?: string;
  /** Print only the key, for `export AITBC_API_KEY=$(aitbc keys create --owner alice -q)`. */
  quiet?: boolean;
}

export function runKeysCreate(options: KeysCreateOptions, { client }: Pick<Session, 'client'>): Promise<KeyCreated> {
  return client.key.create.mutate({
    owner_id: options.owner,
    ...(options.role ? { role: options.role } : {}),
    ...(options.label !== undefined ? { label: options.label } : {}),
  });
}

/** The key stands alone on its line so it can be copied; the server keeps only its hash. */
export function renderKeyCreated(created: KeyCreated): string {
  const { key, ...view } = created;
  return [
    `New ${created.role} API key for ${created.owner_id}. It is shown only this once; store it now:`,
    '',
    `  ${key}`,
    '',
    renderFields(view).trimEnd(),
    '',
    'Use it with --api-key KEY, AITBC_API_KEY=KEY, or api_key: KEY in ~/.aitbc/config.yaml.',
  ].join('\n');
}

export function addKeysCreate(keys: Command, deps: CliDeps): void {
  keys
    .command('create')
    .description('issue an API key for an owner (needs an admin key)')
    .requiredOption('--owner <name>', 'who the key acts for; what it creates belongs to this owner')
    .addOption(new Option('--role <role>', 'owner, or admin to manage keys (default owner)').choices(KEY_ROLES))
    .option('--label <text>', 'a note to recognise the key by')
    .option('-q, --quiet', 'print only the key: export AITBC_API_KEY=$(aitbc keys create --owner alice -q)')
    .action(
      withSession(deps, async (session, command) => {
        const options = command.opts<KeysCreateOptions>();
        const created = await runKeysCreate(options, session);
        if (options.quiet) deps.stdout(`${created.key}\n`);
        else session.show(created, renderKeyCreated);
      }),
    );
}

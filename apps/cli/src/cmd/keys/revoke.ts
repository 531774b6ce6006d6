import type { KeyView } from '@aitbc/core';
import type { Command } from 'commander';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export function runKeysRevoke(options: { id: string }, { client }: Pick<Session, 'client'>): Promise<KeyView> {
  return client.key.revoke.mutate({ key_id: options.id });
}

export function addKeysRevoke(keys: Command, deps: CliDeps): void {
  keys
    .command('revoke')
    .description("revoke an API key (your owner's; admin keys: any); it stops working at once")
    .argument('<key-id>', 'the key id from `aitbc keys list`')
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        const revoked = await runKeysRevoke({ id }, session);
        session.show(revoked, (k) => `Revoked ${k.owner_id}'s ${k.scope} key ${k.prefix}… (${k.id}).\n`);
      }),
    );
}

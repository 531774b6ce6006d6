import type { Principal } from '@aitbc/core';
import type { Command } from 'commander';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export function runKeysWhoami({ client }: Pick<Session, 'client'>): Promise<Principal> {
  return client.key.whoami.query({});
}

export function addKeysWhoami(keys: Command, deps: CliDeps): void {
  keys
    .command('whoami')
    .description('who the API key in use acts for')
    .action(
      withSession(deps, async (session) => {
        session.show(await runKeysWhoami(session), (p) =>
          renderFields({ ...p, key_id: p.key_id ?? '- (configured in AITBC_ADMIN_API_KEYS)', server: session.settings.url.value }),
        );
      }),
    );
}

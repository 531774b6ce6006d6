import type { WhoAmI } from '@aitbc/core';
import type { Command } from 'commander';
import { renderFields, whenText } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { namedText } from './render.ts';

export function runKeysWhoami({ client }: Pick<Session, 'client'>): Promise<WhoAmI> {
  return client.key.whoami.query({});
}

/** Whom the key acts for, what it may do (a worker key: for which agents and members) and until when. */
export function renderWhoami(me: WhoAmI, server: string, now = Date.now()): string {
  return renderFields({
    owner_id: me.owner_id,
    scope: me.scope,
    key_id: me.key_id ?? '- (configured in AITBC_ADMIN_API_KEYS)',
    ...(me.scope === 'worker'
      ? { agents: namedText('agents', me.agents, me.owner_id, me.agent_names), members: namedText('members', me.members, me.owner_id) }
      : {}),
    expires_at: whenText(me.expires_at, now),
    server,
  });
}

export function addKeysWhoami(keys: Command, deps: CliDeps): void {
  keys
    .command('whoami')
    .description('who the API key in use acts for, what it may do, and until when')
    .action(
      withSession(deps, async (session) => {
        session.show(await runKeysWhoami(session), (me) => renderWhoami(me, session.settings.url.value));
      }),
    );
}

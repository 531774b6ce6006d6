import type { NetworkView } from '@aitbc/core';
import type { Command } from 'commander';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { renderNetwork } from './get.ts';
import { networkIdOf } from '../../refs.ts';

/** Archives the network: it takes no new executions; its history stays readable. */
export async function runNetworkDelete(options: { id: string }, session: Pick<Session, 'client'>): Promise<NetworkView> {
  return session.client.network.archive.mutate({ network_id: await networkIdOf(options.id, session) });
}

export function addNetworkDelete(network: Command, deps: CliDeps): void {
  network
    .command('delete')
    .alias('archive')
    .description('archive an agent network: no new executions, its history is kept')
    .argument('<network>', 'the network: its id or name')
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        const archived = await runNetworkDelete({ id }, session);
        session.show(archived, (n) => `Archived agent network ${n.name} (${n.id}).\n\n${renderNetwork(n)}`);
      }),
    );
}

import type { NetworkView } from '@aitbc/core';
import type { Command } from 'commander';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { renderNetwork } from './get.ts';

/** Archives the network: it takes no new executions; its history stays readable. */
export function runNetworkDelete(options: { id: string }, { client }: Pick<Session, 'client'>): Promise<NetworkView> {
  return client.network.archive.mutate({ network_id: options.id });
}

export function addNetworkDelete(network: Command, deps: CliDeps): void {
  network
    .command('delete')
    .alias('archive')
    .description('archive an agent network: no new executions, its history is kept')
    .argument('<id>', 'the network id')
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        const archived = await runNetworkDelete({ id }, session);
        session.show(archived, (n) => `Archived agent network ${n.name} (${n.id}).\n\n${renderNetwork(n)}`);
      }),
    );
}

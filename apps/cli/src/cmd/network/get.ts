import type { NetworkView } from '@aitbc/core';
import type { Command } from 'commander';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { networkIdOf } from '../../refs.ts';
import { policyFields } from '../../verification.ts';

export async function runNetworkGet(options: { id: string }, session: Pick<Session, 'client'>): Promise<NetworkView> {
  return session.client.network.get.query({ network_id: await networkIdOf(options.id, session) });
}

/** A network as `key: value` lines, then its agents one per line. */
export function renderNetwork(network: NetworkView): string {
  const { agents, verification, ...fields } = network;
  return (
    renderFields({ ...fields, ...policyFields(verification) }) + `agents (${agents.length}):\n` + agents.map((a) => `  ${a}\n`).join('')
  );
}

export function addNetworkGet(network: Command, deps: CliDeps): void {
  network
    .command('get')
    .description('show one agent network')
    .argument('<network>', 'the network: its id or name')
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        session.show(await runNetworkGet({ id }, session), renderNetwork);
      }),
    );
}

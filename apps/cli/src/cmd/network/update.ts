import type { NetworkView } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { networkIdOf, resolveAgentRefs } from '../../refs.ts';
import { UsageError } from '../../failure.ts';
import { commaList } from '../../flags.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import {
  addSettingOptions,
  addStrategyOptions,
  type NetworkSettingFlags,
  type StrategyFlags,
  settingsFrom,
  strategyFrom,
  verificationOf,
} from './create.ts';
import { renderNetwork } from './get.ts';

export interface NetworkUpdateOptions extends NetworkSettingFlags, StrategyFlags {
  id: string;
  name?: string;
  /** "" clears it. */
  description?: string;
  /** Agent ids or names; they replace the network's agents. */
  agents?: string[];
  status?: 'active' | 'paused';
}

/** Changes only what was given; giving nothing is a usage error and sends no request. */
export async function runNetworkUpdate(options: NetworkUpdateOptions, session: Pick<Session, 'client'>): Promise<NetworkView> {
  const { id, name, description, agents, status } = options;
  const strategy = strategyFrom(options);
  const settings = { ...settingsFrom(options), ...verificationOf(options) };
  if (
    name === undefined &&
    description === undefined &&
    agents === undefined &&
    status === undefined &&
    strategy === undefined &&
    !Object.keys(settings).length
  ) {
    throw new UsageError(
      'nothing to update: give --name, --description, --agents, --strategy, --status, --lease-seconds, --claim-timeout, --max-attempts, --replication, --max-replication, --[no-]work-stealing, --[no-]speculation, --speculation-multiplier, --speculation-quantile or a verification flag (--verification, --copies, --quorum, …)',
    );
  }
  if (agents !== undefined && agents.length === 0) throw new UsageError('--agents needs at least one agent id or name');
  const agentIds = agents !== undefined ? await resolveAgentRefs(agents, session) : undefined;
  return session.client.network.update.mutate({
    network_id: await networkIdOf(id, session),
    ...(name !== undefined ? { name } : {}),
    ...(description !== undefined ? { description: description === '' ? null : description } : {}),
    ...(agentIds !== undefined ? { agents: agentIds } : {}),
    ...(strategy !== undefined ? { coordination_strategy: strategy } : {}),
    ...(status !== undefined ? { status } : {}),
    ...settings,
  });
}

export function addNetworkUpdate(network: Command, deps: CliDeps): void {
  const command = network
    .command('update')
    .description('change an agent network (only what is given)')
    .argument('<network>', 'the network: its id or name')
    .option('--name <name>', 'a new name')
    .option('--description <text>', 'a new description ("" clears it)')
    .option('--agents <list>', 'the new comma-separated agent ids or names (they replace the current ones)', commaList)
    .addOption(new Option('--status <status>', 'pause the network (no new executions) or resume it').choices(['active', 'paused']));
  addStrategyOptions(command, 'a new coordination strategy');
  addSettingOptions(command).action(
    withSession(deps, async (session, command) => {
      const [id] = command.processedArgs as [string];
      const updated = await runNetworkUpdate({ ...command.opts<Omit<NetworkUpdateOptions, 'id'>>(), id }, session);
      session.show(updated, renderNetwork);
    }),
  );
}

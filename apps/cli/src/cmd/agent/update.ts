import { AGENT_STATUSES, type AgentStatus, type AgentView } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { UsageError } from '../../failure.ts';
import { commaList } from '../../flags.ts';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { agentIdOf } from '../../refs.ts';

export interface AgentUpdateOptions {
  id: string;
  name?: string;
  /** [] clears them. */
  capabilities?: string[];
  /** "" clears it. */
  description?: string;
  status?: AgentStatus;
  /** The machine it runs on; "" clears it. */
  host?: string;
}

/** Changes only what was given; giving nothing is a usage error, not a silent no-op. */
export async function runAgentUpdate(options: AgentUpdateOptions, session: Pick<Session, 'client'>): Promise<AgentView> {
  const { id, name, capabilities, description, status, host } = options;
  if (name === undefined && capabilities === undefined && description === undefined && status === undefined && host === undefined) {
    throw new UsageError('nothing to update: give --name, --capabilities, --description, --status or --host');
  }
  return session.client.agent.update.mutate({
    agent_id: await agentIdOf(id, session),
    ...(name !== undefined ? { name } : {}),
    ...(capabilities !== undefined ? { capabilities } : {}),
    ...(description !== undefined ? { description: description === '' ? null : description } : {}),
    ...(status !== undefined ? { status } : {}),
    ...(host !== undefined ? { host: host === '' ? null : host } : {}),
  });
}

export function addAgentUpdate(agent: Command, deps: CliDeps): void {
  agent
    .command('update')
    .description('change an agent (only the fields given)')
    .argument('<agent>', 'the agent: its id or name')
    .option('--name <name>', 'a new name')
    .option('--capabilities <list>', 'the new comma-separated capability tags ("" clears them)', commaList)
    .option('--description <text>', 'a new description ("" clears it)')
    .addOption(new Option('--status <status>', 'report a status (also sets last_seen)').choices(AGENT_STATUSES))
    .option('--host <label>', 'the machine it runs on: copies of one subtask never go to two agents of one host ("" clears it)')
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        const updated = await runAgentUpdate({ ...command.opts<Omit<AgentUpdateOptions, 'id'>>(), id }, session);
        session.show(updated, renderFields);
      }),
    );
}

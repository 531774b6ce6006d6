import { AGENT_STATUSES, type AgentStatus, type AgentView } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { commaList } from '../../flags.ts';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export interface AgentRegisterOptions {
  name: string;
  capabilities?: string[];
  description?: string;
  status?: AgentStatus;
  /** The machine it runs on (copies of one subtask never go to two agents of one host). */
  host?: string;
}

export function runAgentRegister(options: AgentRegisterOptions, { client }: Pick<Session, 'client'>): Promise<AgentView> {
  return client.agent.register.mutate({
    name: options.name,
    capabilities: options.capabilities ?? [],
    ...(options.description !== undefined ? { description: options.description } : {}),
    ...(options.status ? { status: options.status } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
  });
}

export function addAgentRegister(agent: Command, deps: CliDeps): void {
  agent
    .command('register')
    .description('register an agent you own')
    .requiredOption('--name <name>', 'a name unique among your agents (no spaces or commas)')
    .option('--capabilities <list>', 'comma-separated capability tags, e.g. gpu,llm', commaList)
    .option('--description <text>', 'what the agent is for')
    .option('--host <label>', 'the machine it runs on: copies of one subtask never go to two agents of one host')
    .addOption(new Option('--status <status>', 'initial status (default offline)').choices(AGENT_STATUSES))
    .action(
      withSession(deps, async (session, command) => {
        const created = await runAgentRegister(command.opts<AgentRegisterOptions>(), session);
        session.show(created, renderFields);
      }),
    );
}

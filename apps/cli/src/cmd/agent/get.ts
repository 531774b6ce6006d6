import type { AgentView } from '@aitbc/core';
import type { Command } from 'commander';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export function runAgentGet(options: { id: string }, { client }: Pick<Session, 'client'>): Promise<AgentView> {
  return client.agent.get.query({ agent_id: options.id });
}

export function addAgentGet(agent: Command, deps: CliDeps): void {
  agent
    .command('get')
    .description('show one of your agents')
    .argument('<id>', 'the agent id')
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        session.show(await runAgentGet({ id }, session), renderFields);
      }),
    );
}

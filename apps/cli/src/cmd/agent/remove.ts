import type { AgentView } from '@aitbc/core';
import type { Command } from 'commander';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export function runAgentRemove(options: { id: string }, { client }: Pick<Session, 'client'>): Promise<AgentView> {
  return client.agent.remove.mutate({ agent_id: options.id });
}

export function addAgentRemove(agent: Command, deps: CliDeps): void {
  agent
    .command('remove')
    .alias('deregister')
    .description('deregister one of your agents')
    .argument('<id>', 'the agent id')
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        const removed = await runAgentRemove({ id }, session);
        session.show(removed, (a) => `Removed agent ${a.name} (${a.id}).\n`);
      }),
    );
}

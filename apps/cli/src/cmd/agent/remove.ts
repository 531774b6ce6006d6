import type { AgentView } from '@aitbc/core';
import type { Command } from 'commander';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { agentIdOf } from '../../refs.ts';

export async function runAgentRemove(options: { id: string }, session: Pick<Session, 'client'>): Promise<AgentView> {
  return session.client.agent.remove.mutate({ agent_id: await agentIdOf(options.id, session) });
}

export function addAgentRemove(agent: Command, deps: CliDeps): void {
  agent
    .command('remove')
    .alias('deregister')
    .description('deregister one of your agents')
    .argument('<agent>', 'the agent: its id or name')
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        const removed = await runAgentRemove({ id }, session);
        session.show(removed, (a) => `Removed agent ${a.name} (${a.id}).\n`);
      }),
    );
}

import type { AgentView } from '@aitbc/core';
import type { Command } from 'commander';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { agentIdOf } from '../../refs.ts';

export async function runAgentGet(options: { id: string }, session: Pick<Session, 'client'>): Promise<AgentView> {
  return session.client.agent.get.query({ agent_id: await agentIdOf(options.id, session) });
}

export function addAgentGet(agent: Command, deps: CliDeps): void {
  agent
    .command('get')
    .description('show one of your agents')
    .argument('<agent>', 'the agent: its id or name')
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        session.show(await runAgentGet({ id }, session), renderFields);
      }),
    );
}

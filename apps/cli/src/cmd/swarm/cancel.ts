import type { Command } from 'commander';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import type { SwarmTaskView } from './render.ts';
import { renderTaskStatus } from './status.ts';

/** Cancels a queued or running task; its open work is withdrawn and its workers' leases end. */
export function runSwarmCancel(options: { taskId: string }, { client }: Pick<Session, 'client'>): Promise<SwarmTaskView> {
  return client.swarm.cancel.mutate({ task_id: options.taskId });
}

export function addSwarmCancel(swarm: Command, deps: CliDeps): void {
  swarm
    .command('cancel')
    .description('cancel a coordination task; its open work is withdrawn')
    .argument('<task-id>', 'the task id')
    .action(
      withSession(deps, async (session, command) => {
        const [taskId] = command.processedArgs as [string];
        session.show(await runSwarmCancel({ taskId }, session), renderTaskStatus);
      }),
    );
}

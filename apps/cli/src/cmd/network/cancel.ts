import type { ExecutionView } from '@aitbc/core';
import type { Command } from 'commander';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { type ExecutionRef, renderExecution } from './execution.ts';
import { networkIdOf } from '../../refs.ts';

/** Cancels a queued or running execution; its open subtasks are withdrawn and their workers' leases end. */
export async function runNetworkCancel(options: ExecutionRef, session: Pick<Session, 'client'>): Promise<ExecutionView> {
  return session.client.execution.cancel.mutate({ network_id: await networkIdOf(options.id, session), execution_id: options.executionId });
}

export function addNetworkCancel(network: Command, deps: CliDeps): void {
  network
    .command('cancel')
    .description('cancel an execution; its open subtasks are withdrawn')
    .argument('<network>', 'the network: its id or name')
    .argument('<execution-id>', 'the execution id')
    .action(
      withSession(deps, async (session, command) => {
        const [id, executionId] = command.processedArgs as [string, string];
        session.show(await runNetworkCancel({ id, executionId }, session), renderExecution);
      }),
    );
}

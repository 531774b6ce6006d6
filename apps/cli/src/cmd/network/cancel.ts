import type { ExecutionView } from '@aitbc/core';
import type { Command } from 'commander';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { type ExecutionRef, renderExecution } from './execution.ts';

/** Cancels a queued or running execution; its open subtasks are withdrawn and their workers' leases end. */
export function runNetworkCancel(options: ExecutionRef, { client }: Pick<Session, 'client'>): Promise<ExecutionView> {
  return client.execution.cancel.mutate({ network_id: options.id, execution_id: options.executionId });
}

export function addNetworkCancel(network: Command, deps: CliDeps): void {
  network
    .command('cancel')
    .description('cancel an execution; its open subtasks are withdrawn')
    .argument('<id>', 'the network id')
    .argument('<execution-id>', 'the execution id')
    .action(
      withSession(deps, async (session, command) => {
        const [id, executionId] = command.processedArgs as [string, string];
        session.show(await runNetworkCancel({ id, executionId }, session), renderExecution);
      }),
    );
}

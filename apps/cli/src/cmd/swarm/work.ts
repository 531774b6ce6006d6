import type { WorkerSummary } from '@aitbc/client';
import type { Command } from 'commander';
import { renderFields } from '../../output.ts';
import { type CliDeps, withSession } from '../../session.ts';
import { untilSignalled } from '../../signals.ts';
import { addWorkOptions, runWorker, type WorkDeps, type WorkOptions } from '../../worker.ts';

export interface SwarmWorkOptions extends WorkOptions {
  /** The member id (from `swarm join`). */
  member: string;
}

export type SwarmWorkDeps = WorkDeps;

/**
 * Runs the member's worker until stopped; returns what it did. Its claims and
 * lease heartbeats are its heartbeats too; a server that is down when it
 * starts is waited for (its first claim is retried). A member has no presence
 * apart from its membership: stopped, it is not marked anything (leaving is
 * its owner's call, which a worker key cannot make), and the subtasks
 * assigned to it and not claimed move to another eligible member, if there
 * is one, when their claim time (the task's lease) passes.
 */
export async function runSwarmWork(options: SwarmWorkOptions, deps: SwarmWorkDeps): Promise<WorkerSummary & { member_id: string }> {
  deps.log(
    `member ${options.member}: working with ${options.concurrency ?? 1} slot(s); Ctrl-C finishes running subtasks, twice abandons them`,
  );
  const summary = await runWorker({ member: options.member }, options, deps);
  deps.log(`member ${options.member}: stopped; it stays in its swarm until it leaves (aitbc swarm leave) or, silent, is found failed`);
  return { member_id: options.member, ...summary };
}

export function addSwarmWork(swarm: Command, deps: CliDeps): void {
  const command = swarm
    .command('work')
    .description('run a worker for a swarm member: claim its subtasks, run a command on each, post the results (its votes)')
    .requiredOption('--member <id>', 'the member id (from `aitbc swarm join`)');
  addWorkOptions(command).action(
    withSession(deps, async (session, command) => {
      const summary = await untilSignalled((stop, abandon, force) =>
        runSwarmWork(command.opts<SwarmWorkOptions>(), {
          client: session.client,
          log: (line) => deps.stderr(`aitbc work: ${line}\n`),
          stop,
          abandon,
          force,
          cwd: deps.cwd,
        }),
      );
      session.show(summary, renderFields);
    }),
  );
}

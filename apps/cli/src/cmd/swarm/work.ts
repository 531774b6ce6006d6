import { createWorker, type WorkerSummary } from '@aitbc/client';
import type { Command } from 'commander';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { untilSignalled } from '../../signals.ts';
import { addWorkOptions, commandHandler } from '../../worker.ts';

export interface SwarmWorkOptions {
  /** The member id (from `swarm join`). */
  member: string;
  exec: string;
  concurrency?: number;
  /** Longest a claim waits for work before asking again, in seconds (default 30). */
  pollInterval?: number;
  /** Ask for leases of this length instead of the task's. */
  leaseSeconds?: number;
  maxSubtasks?: number;
}

export interface SwarmWorkDeps extends Pick<Session, 'client'> {
  log(line: string): void;
  stop: AbortSignal;
  abandon: AbortSignal;
  cwd?: string;
}

/** Runs the member's worker until stopped; returns what it did. Its claims and lease heartbeats are its heartbeats too. */
export async function runSwarmWork(options: SwarmWorkOptions, deps: SwarmWorkDeps): Promise<WorkerSummary & { member_id: string }> {
  deps.log(
    `member ${options.member}: working with ${options.concurrency ?? 1} slot(s); Ctrl-C finishes running subtasks, twice abandons them`,
  );
  const summary = await createWorker({
    client: deps.client,
    member: options.member,
    handler: commandHandler(options.exec, deps.cwd ? { cwd: deps.cwd } : {}),
    concurrency: options.concurrency,
    leaseSeconds: options.leaseSeconds,
    waitSeconds: options.pollInterval,
    maxSubtasks: options.maxSubtasks,
    log: deps.log,
    signal: deps.stop,
    abandonSignal: deps.abandon,
  }).run();
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
      const summary = await untilSignalled((stop, abandon) =>
        runSwarmWork(command.opts<SwarmWorkOptions>(), {
          client: session.client,
          log: (line) => deps.stderr(`aitbc work: ${line}\n`),
          stop,
          abandon,
          cwd: deps.cwd,
        }),
      );
      session.show(summary, renderFields);
    }),
  );
}

import type { Command } from 'commander';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { untilSignalled } from '../../signals.ts';
import { addWorkOptions, runWorkLoop, subtaskQueue, type WorkQueue, type WorkSummary } from '../../worker.ts';

export interface SwarmWorkOptions {
  /** The member id (from `swarm join`). */
  member: string;
  exec: string;
  concurrency?: number;
  /** Seconds between claims while nothing waits (default 1). */
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

/** A member's subtasks through the worker procedures. Its claims and lease heartbeats are its heartbeats too. */
export function memberQueue(session: Pick<Session, 'client'>, memberId: string, leaseSeconds?: number): WorkQueue {
  return subtaskQueue(session, (lease) => session.client.swarm.claim.mutate({ member_id: memberId, ...lease }), leaseSeconds);
}

/** Runs the member's worker until stopped; returns what it did. */
export async function runSwarmWork(options: SwarmWorkOptions, deps: SwarmWorkDeps): Promise<WorkSummary & { member_id: string }> {
  deps.log(
    `member ${options.member}: working with ${options.concurrency ?? 1} slot(s); Ctrl-C finishes running subtasks, twice abandons them`,
  );
  const summary = await runWorkLoop(
    {
      exec: options.exec,
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      ...(options.pollInterval !== undefined ? { pollMs: options.pollInterval * 1000 } : {}),
      ...(options.maxSubtasks !== undefined ? { maxSubtasks: options.maxSubtasks } : {}),
    },
    {
      queue: memberQueue(deps, options.member, options.leaseSeconds),
      log: deps.log,
      stop: deps.stop,
      abandon: deps.abandon,
      ...(deps.cwd ? { cwd: deps.cwd } : {}),
    },
  );
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

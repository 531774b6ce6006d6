import { createWorker, type WorkerSummary } from '@aitbc/client';
import type { Command } from 'commander';
import { resolveAgentRef } from '../../refs.ts';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { untilSignalled } from '../../signals.ts';
import { addWorkOptions, commandHandler } from '../../worker.ts';

export interface AgentWorkOptions {
  /** The agent's id or name. */
  agent: string;
  exec: string;
  concurrency?: number;
  /** Longest a claim waits for work before asking again, in seconds (default 30). */
  pollInterval?: number;
  /** Ask for leases of this length instead of the network's. */
  leaseSeconds?: number;
  maxSubtasks?: number;
}

export interface AgentWorkDeps extends Pick<Session, 'client'> {
  log(line: string): void;
  stop: AbortSignal;
  abandon: AbortSignal;
  cwd?: string;
}

/** Runs the agent's worker until stopped; returns what it did. */
export async function runAgentWork(options: AgentWorkOptions, deps: AgentWorkDeps): Promise<WorkerSummary & { agent_id: string }> {
  const agent = await resolveAgentRef(options.agent, deps);
  deps.log(
    `agent ${agent.name} (${agent.id}): working with ${options.concurrency ?? 1} slot(s); Ctrl-C finishes running subtasks, twice abandons them`,
  );
  const summary = await createWorker({
    client: deps.client,
    agent: agent.id,
    handler: commandHandler(options.exec, deps.cwd ? { cwd: deps.cwd } : {}),
    concurrency: options.concurrency,
    leaseSeconds: options.leaseSeconds,
    waitSeconds: options.pollInterval,
    maxSubtasks: options.maxSubtasks,
    log: deps.log,
    signal: deps.stop,
    abandonSignal: deps.abandon,
  }).run();
  // A worker that stops hands the agent's waiting work on now rather than after the claim timeout.
  await deps.client.agent.update.mutate({ agent_id: agent.id, status: 'offline' }).then(
    () => deps.log(`agent ${agent.name}: stopped; marked offline, so its waiting subtasks move to other agents`),
    (error) => deps.log(`agent ${agent.name}: stopped, but could not mark it offline: ${(error as Error).message}`),
  );
  return { agent_id: agent.id, ...summary };
}

export function addAgentWork(agent: Command, deps: CliDeps): void {
  const command = agent
    .command('work')
    .description('run a worker for one of your agents: claim its subtasks, run a command on each, post the results')
    .requiredOption('--agent <id>', 'the agent id or name');
  addWorkOptions(command).action(
    withSession(deps, async (session, command) => {
      const summary = await untilSignalled((stop, abandon) =>
        runAgentWork(command.opts<AgentWorkOptions>(), {
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

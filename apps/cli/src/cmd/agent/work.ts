import type { Command } from 'commander';
import { resolveAgentRef } from '../../agent-refs.ts';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { addWorkOptions, runWorkLoop, subtaskQueue, type WorkQueue, type WorkSummary } from '../../worker.ts';
import { untilSignalled } from '../../signals.ts';

export interface AgentWorkOptions {
  /** The agent's id or name. */
  agent: string;
  exec: string;
  concurrency?: number;
  /** Seconds between claims while nothing waits (default 1). */
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

/** An agent's subtasks through the worker procedures. */
export function agentQueue(session: Pick<Session, 'client'>, agentId: string, leaseSeconds?: number): WorkQueue {
  return subtaskQueue(session, (lease) => session.client.work.claim.mutate({ agent_id: agentId, ...lease }), leaseSeconds);
}

/** Runs the agent's worker until stopped; returns what it did. */
export async function runAgentWork(options: AgentWorkOptions, deps: AgentWorkDeps): Promise<WorkSummary & { agent_id: string }> {
  const agent = await resolveAgentRef(options.agent, deps);
  deps.log(
    `agent ${agent.name} (${agent.id}): working with ${options.concurrency ?? 1} slot(s); Ctrl-C finishes running subtasks, twice abandons them`,
  );
  const summary = await runWorkLoop(
    {
      exec: options.exec,
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      ...(options.pollInterval !== undefined ? { pollMs: options.pollInterval * 1000 } : {}),
      ...(options.maxSubtasks !== undefined ? { maxSubtasks: options.maxSubtasks } : {}),
    },
    {
      queue: agentQueue(deps, agent.id, options.leaseSeconds),
      log: deps.log,
      stop: deps.stop,
      abandon: deps.abandon,
      ...(deps.cwd ? { cwd: deps.cwd } : {}),
    },
  );
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

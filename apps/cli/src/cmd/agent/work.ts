import { createWorker, type WorkerSummary } from '@aitbc/client';
import type { Command } from 'commander';
import { CliError } from '../../failure.ts';
import { resolveAgentRef, workerAgentRef } from '../../refs.ts';
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

/**
 * The agent to work for, and whether the key is a worker key. Owner and
 * admin keys look the reference up among their owner's agents; a worker key
 * cannot list agents, so it matches the reference against the agents it names
 * (whoami), or takes an id when it names none.
 */
async function agentToWork(
  ref: string,
  deps: Pick<AgentWorkDeps, 'client'>,
): Promise<{ id: string; name: string | null; worker: boolean }> {
  const me = await deps.client.key.whoami.query({});
  if (me.scope === 'read')
    throw new CliError('a read key cannot claim work: use a worker key (aitbc keys create --scope worker) or an owner key');
  if (me.scope === 'worker') return { ...workerAgentRef(ref, me), worker: true };
  const agent = await resolveAgentRef(ref, deps);
  return { id: agent.id, name: agent.name, worker: false };
}

/** Runs the agent's worker until stopped; returns what it did. */
export async function runAgentWork(options: AgentWorkOptions, deps: AgentWorkDeps): Promise<WorkerSummary & { agent_id: string }> {
  const agent = await agentToWork(options.agent, deps);
  const label = agent.name ?? agent.id;
  deps.log(
    `agent ${agent.name ? `${agent.name} (${agent.id})` : agent.id}: working with ${options.concurrency ?? 1} slot(s); Ctrl-C finishes running subtasks, twice abandons them`,
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
  if (agent.worker) {
    // A worker key may not change the agent: its waiting subtasks move on without it.
    deps.log(
      `agent ${label}: stopped; not marked offline (a worker key cannot change agents), so its waiting subtasks move to other agents when they steal them or when their claim times out`,
    );
  } else {
    // A worker that stops hands the agent's waiting work on now rather than after the claim timeout.
    await deps.client.agent.update.mutate({ agent_id: agent.id, status: 'offline' }).then(
      () => deps.log(`agent ${label}: stopped; marked offline, so its waiting subtasks move to other agents`),
      (error) => deps.log(`agent ${label}: stopped, but could not mark it offline: ${(error as Error).message}`),
    );
  }
  return { agent_id: agent.id, ...summary };
}

export function addAgentWork(agent: Command, deps: CliDeps): void {
  const command = agent
    .command('work')
    .description(
      'run a worker for one of your agents: claim its subtasks, run a command on each, post the results (an owner key, or a worker key for the agent)',
    )
    .requiredOption('--agent <id>', 'the agent id or name (with a worker key: a name only if the key names that agent)');
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

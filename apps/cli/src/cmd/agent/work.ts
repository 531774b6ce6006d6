import { describeError, GaveUp, untilReachable, type WorkerSummary } from '@aitbc/client';
import type { Command } from 'commander';
import { CliError } from '../../failure.ts';
import { resolveAgentRef, workerAgentRef } from '../../refs.ts';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { untilSignalled } from '../../signals.ts';
import { addWorkOptions, runWorker, type WorkDeps, type WorkOptions } from '../../worker.ts';

export interface AgentWorkOptions extends WorkOptions {
  /** The agent's id or name. */
  agent: string;
}

export type AgentWorkDeps = WorkDeps;

/** How long a stopped worker waits for the server to mark its agent offline: a server that does not answer is not waited for. */
const OFFLINE_WAIT_MS = 5000;

/**
 * The agent to work for. Owner and admin keys look the reference up among
 * their owner's agents; a worker key cannot list agents, so it matches the
 * reference against the agents it names (whoami), or takes an id when it
 * names none.
 */
async function agentToWork(
  ref: string,
  deps: Pick<Session, 'client'>,
  signal: AbortSignal | undefined,
): Promise<{ id: string; name: string | null }> {
  const me = await deps.client.key.whoami.query({}, { signal });
  if (me.scope === 'read')
    throw new CliError('a read key cannot claim work: use a worker key (aitbc keys create --scope worker) or an owner key');
  if (me.scope === 'worker') return workerAgentRef(ref, me);
  const agent = await resolveAgentRef(ref, deps);
  return { id: agent.id, name: agent.name };
}

/** Runs the agent's worker until stopped; returns what it did. */
export async function runAgentWork(options: AgentWorkOptions, deps: AgentWorkDeps): Promise<WorkerSummary & { agent_id: string }> {
  // A server that is down when the worker starts is waited for, as the worker waits for it later.
  const agent = await untilReachable(`agent ${options.agent}`, (signal) => agentToWork(options.agent, deps, signal), {
    log: deps.log,
    until: deps.stop,
  }).catch((error: unknown) => {
    if (error instanceof GaveUp) throw new CliError(`stopped before the server could be reached (${error.message})`);
    throw error;
  });
  const label = agent.name ?? agent.id;
  deps.log(
    `agent ${agent.name ? `${agent.name} (${agent.id})` : agent.id}: working with ${options.concurrency ?? 1} slot(s); Ctrl-C finishes running subtasks, twice abandons them`,
  );
  const summary = await runWorker({ agent: agent.id }, options, deps);
  // A worker that stops hands the agent's waiting work on now rather than after the claim timeout (any key that may
  // work for the agent may mark it offline).
  await deps.client.agent.presence.mutate({ agent_id: agent.id, status: 'offline' }, { signal: AbortSignal.timeout(OFFLINE_WAIT_MS) }).then(
    () => deps.log(`agent ${label}: stopped; marked offline, so its waiting subtasks move to other agents`),
    (error: unknown) =>
      deps.log(
        `agent ${label}: stopped, but could not mark it offline (${describeError(error).message}), so its waiting subtasks move on when their claim times out`,
      ),
  );
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
      const summary = await untilSignalled((stop, abandon, force) =>
        runAgentWork(command.opts<AgentWorkOptions>(), {
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

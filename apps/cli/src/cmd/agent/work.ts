import type { ClaimedSubtask } from '@aitbc/core';
import type { Command } from 'commander';
import { resolveAgentRef } from '../../agent-refs.ts';
import { integerFrom } from '../../flags.ts';
import { renderFields } from '../../output.ts';
import { parseSeconds } from '../../progress.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { type Lease, runWorkLoop, type WorkQueue, type WorkSummary } from '../../worker.ts';
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

function leaseOf(s: Omit<ClaimedSubtask, 'payload'> & { payload?: unknown }): Lease {
  return {
    subtaskId: s.subtask_id,
    leaseId: s.lease_id,
    expiresAt: s.lease_expires_at,
    payload: s.payload,
    label: `subtask ${s.subtask_id} (execution ${s.execution_id}, seq ${s.seq}${s.replica ? `, replica ${s.replica}` : ''}, attempt ${s.attempt})`,
    env: {
      AITBC_SUBTASK_ID: s.subtask_id,
      AITBC_LEASE_ID: s.lease_id,
      AITBC_EXECUTION_ID: s.execution_id,
      AITBC_NETWORK_ID: s.network_id,
      AITBC_SEQ: String(s.seq),
      AITBC_REPLICA: String(s.replica),
      AITBC_ATTEMPT: String(s.attempt),
    },
  };
}

/** An agent's subtasks through the worker procedures. */
export function agentQueue({ client }: Pick<Session, 'client'>, agentId: string, leaseSeconds?: number): WorkQueue {
  const lease = leaseSeconds !== undefined ? { lease_seconds: leaseSeconds } : {};
  const ref = (l: Lease) => ({ subtask_id: l.subtaskId, lease_id: l.leaseId });
  return {
    async claim() {
      const { subtask } = await client.work.claim.mutate({ agent_id: agentId, ...lease });
      return subtask ? leaseOf(subtask) : null;
    },
    async heartbeat(l) {
      const view = await client.work.heartbeat.mutate({ ...ref(l), ...lease });
      return view.lease_expires_at ?? new Date().toISOString();
    },
    async complete(l, result) {
      await client.work.result.mutate({ ...ref(l), result });
    },
    async fail(l, error) {
      await client.work.fail.mutate({ ...ref(l), error });
    },
  };
}

/** Runs the agent's worker until stopped; returns what it did. */
export async function runAgentWork(options: AgentWorkOptions, deps: AgentWorkDeps): Promise<WorkSummary & { agent_id: string }> {
  const agent = await resolveAgentRef(options.agent, deps);
  deps.log(`agent ${agent.name} (${agent.id}): working with ${options.concurrency ?? 1} slot(s); Ctrl-C finishes running subtasks, twice abandons them`);
  const summary = await runWorkLoop(
    {
      exec: options.exec,
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      ...(options.pollInterval !== undefined ? { pollMs: options.pollInterval * 1000 } : {}),
      ...(options.maxSubtasks !== undefined ? { maxSubtasks: options.maxSubtasks } : {}),
    },
    { queue: agentQueue(deps, agent.id, options.leaseSeconds), log: deps.log, stop: deps.stop, abandon: deps.abandon, ...(deps.cwd ? { cwd: deps.cwd } : {}) },
  );
  // A worker that stops hands the agent's waiting work on now rather than after the claim timeout.
  await deps.client.agent.update.mutate({ agent_id: agent.id, status: 'offline' }).then(
    () => deps.log(`agent ${agent.name}: stopped; marked offline, so its waiting subtasks move to other agents`),
    (error) => deps.log(`agent ${agent.name}: stopped, but could not mark it offline: ${(error as Error).message}`),
  );
  return { agent_id: agent.id, ...summary };
}

/** The flags every kind of worker takes. */
export function addWorkOptions(command: Command): Command {
  return command
    .requiredOption('--exec <command>', "run for each subtask (sh -c): its JSON payload on stdin, its result as JSON on stdout")
    .option('--concurrency <n>', 'subtasks run at once (default 1)', integerFrom(1, 256))
    .option('--poll-interval <seconds>', 'seconds between claims while nothing waits (default 1)', parseSeconds)
    .option('--lease-seconds <n>', "lease length to ask for (default: the network's)", integerFrom(1, 3600))
    .option('--max-subtasks <n>', 'stop after this many subtasks', integerFrom(1, 1_000_000));
}

export function addAgentWork(agent: Command, deps: CliDeps): void {
  const command = agent
    .command('work')
    .description("run a worker for one of your agents: claim its subtasks, run a command on each, post the results")
    .requiredOption('--agent <id>', 'the agent id or name');
  addWorkOptions(command).action(
    withSession(deps, async (session, command) => {
      const summary = await untilSignalled((stop, abandon) =>
        runAgentWork(command.opts<AgentWorkOptions>(), { client: session.client, log: (line) => deps.stderr(`aitbc work: ${line}\n`), stop, abandon, cwd: deps.cwd }),
      );
      session.show(summary, renderFields);
    }),
  );
}

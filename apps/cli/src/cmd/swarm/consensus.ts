import { CONSENSUS_ALGORITHMS, type ConsensusAlgorithm, type VoteView } from '@aitbc/core';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { integerFrom } from '../../flags.ts';
import { type Column, renderFields, renderTable } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { decimals, oneOf, present, round, type SwarmConsensusView } from './render.ts';

export interface SwarmConsensusOptions {
  /** The legacy form's argument: `swarm consensus TASK_ID`. */
  task?: string;
  /** The spec's flag: `swarm consensus --task-id TASK_ID`. */
  taskId?: string;
  algorithm?: ConsensusAlgorithm;
  /** The winning share needed under `threshold` (the legacy form's algorithm; default 0.7 there). */
  consensusThreshold?: number;
  /** Votes are awaited until this many seconds after the task started. */
  timeout?: number;
}

/** A flag parser for a share in (0, 1], such as `--consensus-threshold 0.7`. */
export function parseShare(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1)
    throw new InvalidArgumentError('Expected a number greater than 0 and at most 1, e.g. 0.7.');
  return n;
}

/**
 * `swarm consensus TASK_ID --consensus-threshold T` (the legacy form) asks
 * what a threshold vote at T says of the votes so far, and changes nothing.
 * Otherwise (TASK_ID alone, or `--task-id` with any `--algorithm`,
 * `--consensus-threshold` or `--timeout`) it shows the task's decision, and
 * the algorithm or timeout given apply to a task not yet decided. Either
 * answers pending while votes are outstanding.
 */
export async function runSwarmConsensus(options: SwarmConsensusOptions, { client }: Pick<Session, 'client'>): Promise<SwarmConsensusView> {
  const taskId = oneOf(options.task, options.taskId, '--task-id', 'task id: aitbc swarm consensus TASK_ID, or --task-id TASK_ID');
  const threshold = options.consensusThreshold !== undefined ? { consensus_threshold: options.consensusThreshold } : {};
  const question =
    options.task !== undefined &&
    options.consensusThreshold !== undefined &&
    options.taskId === undefined &&
    options.algorithm === undefined &&
    options.timeout === undefined;
  if (question) return client.swarm.taskConsensus.mutate({ task_id: taskId, consensus_threshold: options.consensusThreshold! });
  return client.swarm.consensus.mutate({
    task_id: taskId,
    ...(options.algorithm !== undefined ? { consensus_algorithm: options.algorithm } : {}),
    ...threshold,
    ...(options.timeout !== undefined ? { timeout_seconds: options.timeout } : {}),
  });
}

/** The tallies, heaviest first; the first row is the winner when consensus was reached. */
export function renderVotes(votes: VoteView[], reached: boolean): string {
  const columns: Column<VoteView>[] = [
    { header: 'RESULT', value: (v) => v.preview, flex: true },
    { header: 'COUNT', value: (v) => v.count },
    { header: 'WEIGHT', value: (v) => decimals(v.weight) },
    { header: 'MEMBERS', value: (v) => v.members.length },
    { header: 'WINNER', value: (v) => (reached && v === votes[0] ? '*' : '') },
  ];
  return renderTable(votes, columns);
}

export function consensusFields(c: SwarmConsensusView): Record<string, unknown> {
  return present({
    task_id: c.task_id,
    swarm_id: c.swarm_id,
    algorithm:
      c.consensus_threshold !== null ? `${c.consensus_algorithm} (threshold ${round(c.consensus_threshold)})` : c.consensus_algorithm,
    consensus_reached: c.consensus_reached,
    status: c.status,
    confidence: c.confidence_score === null ? null : round(c.confidence_score),
    votes: `${c.participating_members.length} of ${c.expected_votes}`,
    winner: c.result ? JSON.stringify(c.result.final_answer) : undefined,
    dissenting: c.consensus_reached && c.dissenting_members.length ? c.dissenting_members : undefined,
    reason: c.reason,
    reached_at: c.consensus_reached_at,
    deadline_at: c.deadline_at,
  });
}

/** The decision, then the vote table (with the winner marked). */
export function renderConsensus(c: SwarmConsensusView): string {
  return renderFields(consensusFields(c)) + (c.votes.length ? '\n' + renderVotes(c.votes, c.consensus_reached) : '\nno votes yet\n');
}

export function addSwarmConsensus(swarm: Command, deps: CliDeps): void {
  swarm
    .command('consensus')
    .description("decide a task's consensus from its members' votes (pending while votes are outstanding)")
    .argument('[task-id]', 'the task id (the legacy form: threshold consensus)')
    .option('--task-id <id>', 'the task id')
    .addOption(
      new Option('--algorithm <algorithm>', "how votes decide (default: the task's, else majority-vote)").choices(CONSENSUS_ALGORITHMS),
    )
    .option('--consensus-threshold <share>', 'the winning share needed under threshold consensus (legacy default 0.7)', parseShare)
    .option('--timeout <seconds>', 'await votes until this long after the task started', integerFrom(1, 7 * 86_400))
    .action(
      withSession(deps, async (session, command) => {
        const [task] = command.processedArgs as [string | undefined];
        const options = { ...command.opts<Omit<SwarmConsensusOptions, 'task'>>(), ...(task !== undefined ? { task } : {}) };
        session.show(await runSwarmConsensus(options, session), renderConsensus);
      }),
    );
}

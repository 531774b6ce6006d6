import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type ExecutionView, PRIORITIES, type Priority } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { CliError } from '../../failure.ts';
import { isTerminal, parseSeconds, progressBar, progressLine, sleep } from '../../progress.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { renderExecution, renderPlannedExecution } from './execution.ts';
import { networkIdOf } from '../../refs.ts';

export interface NetworkExecuteOptions {
  /** The network id. */
  id: string;
  /** A JSON file with the task, or `-` for stdin. */
  task: string;
  priority?: Priority;
  /** Follow the execution to its end and return it with its results. */
  wait?: boolean;
  /** Seconds between polls under --wait (default 0.5). */
  interval?: number;
  /** A repeat under this key (within 24 h) gets the first execution, not a second one (default: a fresh key per run). */
  idempotencyKey?: string;
}

export interface NetworkExecuteDeps extends Pick<Session, 'client'> {
  /** Relative task files resolve against it. */
  cwd: string;
  /** The task when the file is `-` (default: all of the process's stdin). */
  readStdin?: () => Promise<string>;
  /** Where --wait draws its progress. */
  stderr?: (text: string) => void;
  /** Whether stderr is a terminal (the progress line is redrawn in place). */
  tty?: boolean;
  /** Stops waiting (the execution goes on). */
  signal?: AbortSignal;
}

const FINISHED = new Set(['completed', 'failed', 'cancelled']);
const DEFAULT_INTERVAL_SECONDS = 0.5;

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/** The task in `file` (or stdin for `-`): a JSON object, or a CliError naming the file and what is wrong. */
export async function readTask(file: string, deps: Pick<NetworkExecuteDeps, 'cwd' | 'readStdin'>): Promise<Record<string, unknown>> {
  const name = file === '-' ? 'stdin' : file;
  let text: string;
  try {
    text = file === '-' ? await (deps.readStdin ?? readProcessStdin)() : await readFile(resolve(deps.cwd, file), 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const reason = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a directory' : e.message;
    throw new CliError(`cannot read the task file ${name}: ${reason}`);
  }
  let task: unknown;
  try {
    task = JSON.parse(text);
  } catch (error) {
    throw new CliError(`the task in ${name} is not valid JSON: ${(error as Error).message}`);
  }
  if (task === null || typeof task !== 'object' || Array.isArray(task)) {
    const kind = task === null ? 'null' : Array.isArray(task) ? 'an array' : `a ${typeof task}`;
    throw new CliError(`the task in ${name} must be a JSON object (e.g. {"items": [...], "reduce": "sum"}), not ${kind}`);
  }
  return task as Record<string, unknown>;
}

/**
 * Polls the execution until it is completed, failed or cancelled (or `signal`
 * aborts), calling `onPoll` with each state; returns the last state seen.
 */
export async function waitForExecution(
  execution: ExecutionView,
  deps: Pick<NetworkExecuteDeps, 'client' | 'signal'> & { intervalMs: number; onPoll?: (e: ExecutionView) => void },
): Promise<ExecutionView> {
  let current = execution;
  deps.onPoll?.(current);
  while (!FINISHED.has(current.status) && !deps.signal?.aborted) {
    await sleep(deps.intervalMs, deps.signal);
    if (deps.signal?.aborted) break;
    current = await deps.client.execution.get.query({ network_id: current.network_id, execution_id: current.id });
    deps.onPoll?.(current);
  }
  return current;
}

/** Submits the task; with `wait`, follows the execution to its end, drawing its progress on stderr. */
export async function runNetworkExecute(options: NetworkExecuteOptions, deps: NetworkExecuteDeps): Promise<ExecutionView> {
  const task = await readTask(options.task, deps);
  const submitted = await deps.client.execution.execute.mutate({
    network_id: await networkIdOf(options.id, deps),
    task,
    ...(options.priority ? { priority: options.priority } : {}),
    ...(options.idempotencyKey !== undefined ? { idempotency_key: options.idempotencyKey } : {}),
  });
  if (!options.wait) return submitted;
  const write = deps.stderr ?? (() => {});
  write(
    `execution ${submitted.id}: ${submitted.progress.total} subtasks queued; waiting for the agents' workers (Ctrl-C stops waiting, not the execution)\n`,
  );
  const line = progressLine(write, deps.tty ?? false);
  try {
    return await waitForExecution(submitted, {
      ...deps,
      intervalMs: (options.interval ?? DEFAULT_INTERVAL_SECONDS) * 1000,
      onPoll: (e) => line.update(progressBar(e.progress, e.status)),
    });
  } finally {
    line.done();
  }
}

/** Why a waited-for execution did not complete, as the CLI's failure (exit 1); null when it completed. */
export function waitFailure(e: ExecutionView): CliError | null {
  if (e.status === 'failed') return new CliError(`execution ${e.id} failed: ${e.error ?? 'no reason given'}`);
  if (e.status === 'cancelled') return new CliError(`execution ${e.id} was cancelled${e.error ? `: ${e.error}` : ''}`);
  return null;
}

export function addNetworkExecute(network: Command, deps: CliDeps): void {
  network
    .command('execute')
    .description("run a task on a network: it is split into subtasks for the agents' workers (`aitbc agent work`)")
    .argument('<network>', 'the network: its id or name')
    .requiredOption('--task <file>', 'the task as a JSON file, or - for stdin')
    .addOption(new Option('--priority <priority>', 'queue priority (default normal)').choices(PRIORITIES))
    .option('--wait', 'follow the execution to its end, showing progress on stderr, and print its results')
    .option(
      '--idempotency-key <key>',
      'running the command again with this key (within 24 h) answers with the first execution instead of a second',
    )
    .option('--interval <seconds>', `seconds between polls with --wait (default ${DEFAULT_INTERVAL_SECONDS})`, parseSeconds)
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        const options = { ...command.opts<Omit<NetworkExecuteOptions, 'id'>>(), id };
        const execution = await runNetworkExecute(options, {
          client: session.client,
          cwd: deps.cwd,
          stderr: deps.stderr,
          tty: isTerminal('stderr'),
        });
        session.show(execution, options.wait ? renderExecution : renderPlannedExecution);
        const failure = options.wait ? waitFailure(execution) : null;
        if (failure) throw failure;
      }),
    );
}

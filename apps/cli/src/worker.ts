// What `aitbc agent work` and `aitbc swarm work` run for each subtask: the
// user's command, with the subtask's payload as JSON on stdin and its ids in
// the environment; its stdout (JSON) is the result, a non-zero exit a failure
// with the tail of its stderr. The claiming, lease heartbeats, backpressure
// and batched outcomes are the client's worker (createWorker in
// @aitbc/client); this adds what each Ctrl-C does to the subtasks it holds.
import { spawn } from 'node:child_process';
import { createWorker, type WorkerHandler, type WorkerSummary } from '@aitbc/client';
import type { Command } from 'commander';
import { integerFrom } from './flags.ts';
import { parseSeconds } from './progress.ts';
import type { Session } from './session.ts';

/** The tail of stderr a failure carries (the server keeps 8,000 characters). */
const STDERR_TAIL = 4000;
/** Largest stdout taken as a result; more is a failure rather than unbounded memory. */
const STDOUT_LIMIT = 64 * 1024 * 1024;

interface CommandOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderrTail: string;
  tooLarge: boolean;
}

/** Runs `exec` under `sh -c` in its own process group, `input` on stdin; `kill` ends the group. */
function runCommand(
  exec: string,
  input: string,
  env: NodeJS.ProcessEnv,
  cwd: string | undefined,
  kill: AbortSignal,
): Promise<CommandOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', exec], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let tooLarge = false;
    let stderrTail = '';
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    kill.addEventListener('abort', killGroup, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > STDOUT_LIMIT) {
        tooLarge = true;
        killGroup();
      } else stdout.push(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL);
    });
    // A command that does not read its stdin closes the pipe early: that is its business.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.on('error', (error) => {
      kill.removeEventListener('abort', killGroup);
      reject(error);
    });
    child.on('close', (code, signal) => {
      kill.removeEventListener('abort', killGroup);
      resolve({ code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderrTail: stderrTail.trim(), tooLarge });
    });
  });
}

/** What the command's outcome means: a result to post, or a failure and why. */
export function interpretOutcome(outcome: CommandOutcome): { result: unknown } | { error: string } {
  const tail = outcome.stderrTail ? `: ${outcome.stderrTail}` : '';
  if (outcome.tooLarge) return { error: `the command printed more than ${STDOUT_LIMIT} bytes on stdout` };
  if (outcome.signal) return { error: `the command was killed by ${outcome.signal}${tail}` };
  if (outcome.code !== 0) return { error: `the command exited with status ${outcome.code}${tail}` };
  const text = outcome.stdout.trim();
  if (text === '') return { error: 'the command printed nothing on stdout; a result is JSON on stdout (null is fine)' };
  try {
    return { result: JSON.parse(text) };
  } catch (error) {
    return { error: `the command's stdout is not JSON (${(error as Error).message}): ${text.slice(0, 200)}` };
  }
}

/** The subtask's ids, as the command's environment. */
function subtaskEnv(s: Parameters<WorkerHandler>[1]['subtask']): Record<string, string> {
  const env: Record<string, string> = {
    AITBC_SUBTASK_ID: s.subtask_id,
    AITBC_LEASE_ID: s.lease_id,
    AITBC_SEQ: String(s.seq),
    AITBC_REPLICA: String(s.replica),
    AITBC_ATTEMPT: String(s.attempt),
  };
  const ids = { AITBC_EXECUTION_ID: s.execution_id, AITBC_NETWORK_ID: s.network_id, AITBC_TASK_ID: s.task_id, AITBC_SWARM_ID: s.swarm_id };
  for (const [name, value] of Object.entries(ids)) if (value) env[name] = value;
  return env;
}

/**
 * A worker handler that runs `exec` (sh -c) on each subtask: its result is
 * the command's JSON stdout; anything else throws, which posts a failure. A
 * lost lease or an abandoned worker kills the command.
 */
export function commandHandler(exec: string, options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): WorkerHandler {
  return async (payload, job) => {
    let outcome: ReturnType<typeof interpretOutcome>;
    try {
      const env = { ...(options.env ?? process.env), ...subtaskEnv(job.subtask) };
      outcome = interpretOutcome(await runCommand(exec, JSON.stringify(payload ?? null), env, options.cwd, job.signal));
    } catch (error) {
      outcome = { error: `the command could not be started: ${(error as Error).message}` };
    }
    if ('error' in outcome) throw new Error(outcome.error);
    return outcome.result;
  };
}

/** The flags every kind of worker takes. */
export function addWorkOptions(command: Command): Command {
  return command
    .requiredOption('--exec <command>', 'run for each subtask (sh -c): its JSON payload on stdin, its result as JSON on stdout')
    .option('--concurrency <n>', 'subtasks run at once (default 1)', integerFrom(1, 256))
    .option(
      '--poll-interval <seconds>',
      'longest a claim waits for work before asking again (long poll; default 30, at most 30)',
      parseSeconds,
    )
    .option('--lease-seconds <n>', "lease length to ask for (default: the network's or task's)", integerFrom(1, 3600))
    .option('--max-subtasks <n>', 'stop after this many subtasks', integerFrom(1, 1_000_000));
}

/** The flags' values every kind of worker takes. */
export interface WorkOptions {
  exec: string;
  concurrency?: number;
  /** Longest a claim waits for work before asking again, in seconds (default 30). */
  pollInterval?: number;
  /** Ask for leases of this length instead of the network's or task's. */
  leaseSeconds?: number;
  maxSubtasks?: number;
}

export interface WorkDeps extends Pick<Session, 'client'> {
  log(line: string): void;
  /** The first Ctrl-C: running subtasks finish. */
  stop: AbortSignal;
  /** The second: their commands are killed and their failures posted while their leases hold. */
  abandon: AbortSignal;
  /** The third (the process exits at once): what is still held is named. */
  force?: AbortSignal;
  cwd?: string;
}

const running = (n: number) => `${n} running subtask${n === 1 ? '' : 's'}`;

/**
 * Runs `exec` on the subtasks of an agent or a member until stopped, saying
 * at each signal what becomes of the subtasks it holds.
 */
export function runWorker(whose: { agent: string } | { member: string }, options: WorkOptions, deps: WorkDeps): Promise<WorkerSummary> {
  const worker = createWorker({
    client: deps.client,
    ...whose,
    handler: commandHandler(options.exec, deps.cwd ? { cwd: deps.cwd } : {}),
    concurrency: options.concurrency,
    leaseSeconds: options.leaseSeconds,
    waitSeconds: options.pollInterval,
    maxSubtasks: options.maxSubtasks,
    log: deps.log,
    signal: deps.stop,
    abandonSignal: deps.abandon,
  });
  const on = (signal: AbortSignal | undefined, say: () => void) => signal?.addEventListener('abort', say, { once: true });
  on(deps.stop, () => {
    const n = worker.running;
    deps.log(n === 0 ? 'stopping: no subtask is running' : `finishing ${running(n)}; Ctrl-C again to abandon ${n === 1 ? 'it' : 'them'}`);
  });
  on(deps.abandon, () =>
    deps.log(
      `abandoning ${running(worker.running)}: their commands are killed, and their failures posted while their leases hold; Ctrl-C again to exit now`,
    ),
  );
  on(deps.force, () => {
    for (const label of worker.holding()) deps.log(`${label}: abandoned; the server hands it out again when its lease ends`);
    deps.log('exiting now');
  });
  return worker.run();
}

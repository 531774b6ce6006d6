// The worker loop behind `aitbc agent work` (and any other kind of worker):
// claim a unit of work under a lease, run the user's command on it with its
// payload as JSON on stdin, heartbeat while the command runs, and post the
// command's stdout (JSON) as the result, or a failure with stderr's tail.
//
// What is claimed from where is a `WorkQueue`; this file knows nothing of
// networks or swarms.
import { spawn } from 'node:child_process';
import { describeError } from '@aitbc/client';
import type { ClaimedSubtask } from '@aitbc/core';
import type { Command } from 'commander';
import { integerFrom } from './flags.ts';
import { parseSeconds, sleep } from './progress.ts';
import type { Session } from './session.ts';

/** One claimed unit of work. */
export interface Lease {
  subtaskId: string;
  leaseId: string;
  /** When the lease ends unless it is extended (ISO time). */
  expiresAt: string;
  /** What the command reads on stdin, as JSON. */
  payload: unknown;
  /** How log lines name it, e.g. `subtask 3f… (seq 4, attempt 1)`. */
  label: string;
  /** Extra environment for the command (AITBC_SUBTASK_ID, …). */
  env: Record<string, string>;
}

/** A claimed subtask as the client sees it (an unknown `payload` is optional there). */
type ClaimedWork = Omit<ClaimedSubtask, 'payload'> & { payload?: unknown };

/** A claimed subtask (network or swarm work) as the loop runs it. */
export function leaseOf(s: ClaimedWork): Lease {
  const where = s.execution_id ? `execution ${s.execution_id}` : `task ${s.task_id}`;
  const env: Record<string, string> = {
    AITBC_SUBTASK_ID: s.subtask_id,
    AITBC_LEASE_ID: s.lease_id,
    AITBC_SEQ: String(s.seq),
    AITBC_REPLICA: String(s.replica),
    AITBC_ATTEMPT: String(s.attempt),
  };
  const ids = { AITBC_EXECUTION_ID: s.execution_id, AITBC_NETWORK_ID: s.network_id, AITBC_TASK_ID: s.task_id, AITBC_SWARM_ID: s.swarm_id };
  for (const [name, value] of Object.entries(ids)) if (value) env[name] = value;
  return {
    subtaskId: s.subtask_id,
    leaseId: s.lease_id,
    expiresAt: s.lease_expires_at,
    payload: s.payload,
    label: `subtask ${s.subtask_id} (${where}, seq ${s.seq}${s.replica ? `, replica ${s.replica}` : ''}, attempt ${s.attempt})`,
    env,
  };
}

/** Where a worker gets work and reports on it. Errors are whatever the client throws. */
export interface WorkQueue {
  claim(): Promise<Lease | null>;
  /** Extends the lease; returns its new end. */
  heartbeat(lease: Lease): Promise<string>;
  complete(lease: Lease, result: unknown): Promise<void>;
  fail(lease: Lease, error: string): Promise<void>;
}

/**
 * A queue over the worker procedures: `claim` is the assignee's own (an
 * agent's or a swarm member's); heartbeats, results and failures go to the
 * subtask, whoever holds it.
 */
export function subtaskQueue(
  { client }: Pick<Session, 'client'>,
  claim: (lease: { lease_seconds?: number }) => Promise<{ subtask: ClaimedWork | null }>,
  leaseSeconds?: number,
): WorkQueue {
  const lease = leaseSeconds !== undefined ? { lease_seconds: leaseSeconds } : {};
  const ref = (l: Lease) => ({ subtask_id: l.subtaskId, lease_id: l.leaseId });
  return {
    async claim() {
      const { subtask } = await claim(lease);
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

export interface WorkOptions {
  /** The shell command run for each unit (`sh -c`). */
  exec: string;
  /** Units run at once (default 1). */
  concurrency?: number;
  /** Wait between empty claims, in ms (default 1000). */
  pollMs?: number;
  /** Stop after this many units were finished (any outcome). */
  maxSubtasks?: number;
}

export interface WorkDeps {
  queue: WorkQueue;
  /** One line of progress (the command prints it on stderr). */
  log(line: string): void;
  /** Stop claiming; units already running finish and are reported. */
  stop: AbortSignal;
  /** Abandon running units: their commands are killed and a failure is posted for each. */
  abandon: AbortSignal;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface WorkSummary {
  claimed: number;
  completed: number;
  failed: number;
  /** Units whose lease was lost (expired and taken over, or cancelled) before a result could be posted. */
  lost: number;
}

/** The tail of stderr a failure carries (the server keeps 8,000 characters). */
const STDERR_TAIL = 4000;
/** Largest stdout taken as a result; more is a failure rather than unbounded memory. */
const STDOUT_LIMIT = 64 * 1024 * 1024;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 8000;

/** The server answered, and said no: retrying the same request will not help. */
function isRefusal(error: unknown): boolean {
  const { httpStatus } = describeError(error);
  // 429 (rate limited) and 503 (unavailable) say "not now", not "no": the worker backs off and retries.
  return httpStatus !== null && httpStatus !== 429 && httpStatus !== 503;
}

function isLeaseLost(error: unknown): boolean {
  const { code } = describeError(error);
  return code === 'CONFLICT' || code === 'NOT_FOUND';
}

function reason(error: unknown): string {
  const info = describeError(error);
  return info.httpStatus === null ? `${info.code}: ${info.message}` : info.message;
}

/** The server stayed unreachable until the caller stopped waiting. */
class GaveUp extends Error {}

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

/**
 * Claims and runs units until `stop` aborts (or maxSubtasks were finished),
 * `concurrency` at a time. A server that cannot be reached is retried with
 * backoff; a lost lease kills its command and is counted, not retried.
 */
export async function runWorkLoop(options: WorkOptions, deps: WorkDeps): Promise<WorkSummary> {
  const summary: WorkSummary = { claimed: 0, completed: 0, failed: 0, lost: 0 };
  const concurrency = options.concurrency ?? 1;
  const pollMs = options.pollMs ?? 1000;
  let reserved = 0;
  let finished = 0;
  const done = new AbortController();
  const stopping = AbortSignal.any([deps.stop, done.signal]);

  /** Retries `call` while the server cannot be reached, until `until` aborts (then GaveUp). */
  async function reachable<T>(what: string, call: () => Promise<T>, until: AbortSignal): Promise<T> {
    let wait = BACKOFF_MIN_MS;
    let warned = false;
    for (;;) {
      try {
        const value = await call();
        if (warned) deps.log(`${what}: the server answers again`);
        return value;
      } catch (error) {
        if (isRefusal(error)) throw error;
        if (!warned)
          deps.log(
            `${what}: ${describeError(error).httpStatus === null ? 'cannot reach the server' : 'the server asks to wait'} (${reason(error)}); retrying`,
          );
        warned = true;
        if (until.aborted) throw new GaveUp(reason(error));
        await sleep(wait, until);
        if (until.aborted) throw new GaveUp(reason(error));
        wait = Math.min(BACKOFF_MAX_MS, wait * 2);
      }
    }
  }

  async function work(lease: Lease): Promise<void> {
    const lost = new AbortController();
    const kill = AbortSignal.any([lost.signal, deps.abandon]);
    let expiresAt = Date.parse(lease.expiresAt);
    // Heartbeat at a third of the lease's remaining time, so two can be missed before it ends.
    const beat = async () => {
      while (!kill.aborted) {
        await sleep(Math.max(100, (expiresAt - Date.now()) / 3), kill);
        if (kill.aborted) return;
        try {
          expiresAt = Date.parse(await deps.queue.heartbeat(lease));
        } catch (error) {
          if (isLeaseLost(error)) {
            deps.log(`${lease.label}: lease lost (${reason(error)}); stopping its command`);
            lost.abort();
          } else if (isRefusal(error)) {
            deps.log(`${lease.label}: heartbeat refused (${reason(error)})`);
          }
          // Unreachable: try again at the next beat; the lease may still hold.
        }
      }
    };
    const heartbeats = beat();
    const began = performance.now();
    let outcome: ReturnType<typeof interpretOutcome>;
    try {
      const env = { ...(deps.env ?? process.env), ...lease.env };
      outcome = interpretOutcome(await runCommand(options.exec, JSON.stringify(lease.payload ?? null), env, deps.cwd, kill));
    } catch (error) {
      outcome = { error: `the command could not be started: ${(error as Error).message}` };
    }
    const lostLease = lost.signal.aborted;
    lost.abort(); // ends the heartbeats
    await heartbeats;
    if (lostLease) {
      summary.lost++;
      return;
    }
    if (deps.abandon.aborted) outcome = { error: 'the worker was interrupted before the command finished' };
    const seconds = ((performance.now() - began) / 1000).toFixed(2);
    // A result is worth posting as long as the lease may hold.
    const deadline = AbortSignal.timeout(Math.max(1000, expiresAt - Date.now()));
    try {
      if ('result' in outcome) {
        await reachable(`${lease.label}: posting the result`, () => deps.queue.complete(lease, outcome.result), deadline);
        summary.completed++;
        deps.log(`${lease.label}: completed in ${seconds} s`);
      } else {
        await reachable(`${lease.label}: posting the failure`, () => deps.queue.fail(lease, outcome.error), deadline);
        summary.failed++;
        deps.log(`${lease.label}: failed in ${seconds} s: ${outcome.error}`);
      }
    } catch (error) {
      if (isLeaseLost(error)) {
        summary.lost++;
        deps.log(`${lease.label}: the server did not take the outcome: ${reason(error)}`);
        return;
      }
      if (error instanceof GaveUp) {
        summary.lost++;
        deps.log(`${lease.label}: the lease ended before the server could be reached; the server will hand it out again`);
        return;
      }
      // The server refused the result itself (too large, invalid): say so as the unit's failure.
      summary.failed++;
      deps.log(`${lease.label}: the server refused the result (${reason(error)}); reporting a failure`);
      await deps.queue
        .fail(lease, `the server refused the result: ${reason(error)}`)
        .catch((e) => deps.log(`${lease.label}: ${reason(e)}`));
    }
  }

  async function slot(): Promise<void> {
    while (!stopping.aborted) {
      // Reserve a place before claiming, so that concurrent slots never claim past maxSubtasks.
      if (options.maxSubtasks !== undefined && reserved >= options.maxSubtasks) return;
      reserved++;
      let lease: Lease | null;
      try {
        lease = await reachable('claim', () => deps.queue.claim(), stopping);
      } catch (error) {
        reserved--;
        if (error instanceof GaveUp) return;
        // The server refuses to give this worker anything (unknown agent, bad key): stop every slot.
        done.abort(error);
        throw error;
      }
      if (lease === null) {
        reserved--;
        await sleep(pollMs, stopping);
        continue;
      }
      summary.claimed++;
      deps.log(`${lease.label}: claimed`);
      await work(lease);
      finished++;
      if (options.maxSubtasks !== undefined && finished >= options.maxSubtasks) done.abort();
    }
  }

  const results = await Promise.allSettled(Array.from({ length: concurrency }, slot));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  return summary;
}

/** The flags every kind of worker takes. */
export function addWorkOptions(command: Command): Command {
  return command
    .requiredOption('--exec <command>', 'run for each subtask (sh -c): its JSON payload on stdin, its result as JSON on stdout')
    .option('--concurrency <n>', 'subtasks run at once (default 1)', integerFrom(1, 256))
    .option('--poll-interval <seconds>', 'seconds between claims while nothing waits (default 1)', parseSeconds)
    .option('--lease-seconds <n>', "lease length to ask for (default: the network's or task's)", integerFrom(1, 3600))
    .option('--max-subtasks <n>', 'stop after this many subtasks', integerFrom(1, 1_000_000));
}

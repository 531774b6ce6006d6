import type { SwarmStatusView } from '@aitbc/core';
import type { Command } from 'commander';
import { UsageError } from '../../failure.ts';
import { backupsText, type Column, count, formatOutput, formatValue, renderFields, renderTable } from '../../output.ts';
import { isTerminal, parseSeconds, progressLine, screen, sleep } from '../../progress.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { untilSignalled } from '../../signals.ts';
import { verificationFields } from '../../verification.ts';
import { renderVotes } from './consensus.ts';
import { percent, present, round, type SwarmTaskView, seconds } from './render.ts';

export interface SwarmStatusOptions {
  /** A task: its status (the legacy `swarm status TASK_ID`); without it, the swarms' status. */
  task?: string;
  swarmId?: string;
}

/** A task stops changing once it is one of these. */
export const TASK_FINISHED: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled', 'timed_out']);
export const DEFAULT_WATCH_SECONDS = 2;

export function runSwarmTaskStatus(options: { taskId: string }, { client }: Pick<Session, 'client'>): Promise<SwarmTaskView> {
  return client.swarm.task.query({ task_id: options.taskId });
}

/** Your swarms' status (at most the 100 newest), or one swarm's. */
export function runSwarmStatus(options: { swarmId?: string }, { client }: Pick<Session, 'client'>): Promise<SwarmStatusView[]> {
  return client.swarm.status.query(options.swarmId !== undefined ? { swarm_id: options.swarmId } : {});
}

/** A task's status as shown: a task that ran out of time reads `failed (timed out)`. */
const statusOf = (t: SwarmTaskView) => (t.timed_out ? `${t.status} (timed out)` : t.status);

/** `[#####.....] 50%  running  3/5 collaborators active`. */
export function taskProgress(t: SwarmTaskView, width = 10): string {
  const filled = Math.max(0, Math.min(width, Math.floor((t.progress / 100) * width)));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${round(t.progress)}%  ${statusOf(t)}  ${t.active_collaborators}/${t.total_collaborators} collaborators active`;
}

const taskMemberColumns: Column<SwarmTaskView['members'][number]>[] = [
  { header: 'MEMBER', value: (m) => m.member_id },
  { header: 'MEMBERSHIP', value: (m) => m.membership },
  { header: 'STATE', value: (m) => m.state },
  { header: 'SUBTASKS', value: (m) => m.subtasks },
  { header: 'COMPLETED', value: (m) => m.completed },
];

/** A map-reduce result's reduction, shown on its own line. */
function reduction(result: unknown): Record<string, unknown> {
  if (result === null || typeof result !== 'object' || !('reduce' in result)) return {};
  const r = result as { reduce?: unknown; reduced?: unknown; reduce_error?: unknown };
  return { reduce: r.reduce, reduced: 'reduced' in r ? formatValue(r.reduced) : undefined, reduce_error: r.reduce_error };
}

/** A task: status and progress, its result, each member's share of the work, and the votes when it is a voting task. */
export function renderTaskStatus(t: SwarmTaskView): string {
  const fields = present({
    task_id: t.task_id,
    swarm_id: t.swarm_id,
    strategy: t.strategy,
    status: statusOf(t),
    progress: `${round(t.progress)}%`,
    collaborators: `${t.active_collaborators}/${t.total_collaborators} active`,
    backups: backupsText(t.speculation),
    ...verificationFields(t.verification),
    leader: t.leader,
    error: t.error,
    created_at: t.created_at,
    started_at: t.started_at,
    completed_at: t.completed_at,
    deadline_at: t.deadline_at,
    ...('result' in t ? { result: JSON.stringify(t.result) ?? null, ...reduction(t.result) } : {}),
  });
  const parts = [renderFields(fields)];
  if (t.members.length) parts.push(renderTable(t.members, taskMemberColumns));
  const c = t.consensus;
  if (c) {
    const confidence = c.confidence_score !== null ? `, confidence ${round(c.confidence_score)}` : '';
    const head = `consensus: ${c.status} (${c.consensus_algorithm}${confidence}; ${c.participating_members.length} of ${c.expected_votes} votes)\n`;
    parts.push(head + (c.votes.length ? renderVotes(c.votes, c.consensus_reached) : ''));
  }
  return parts.join('\n');
}

const swarmColumns: Column<SwarmStatusView>[] = [
  { header: 'SWARM', value: (s) => s.swarm_id },
  { header: 'MEMBERS', value: (s) => `${s.member_counts.active}/${s.member_count}` },
  { header: 'ACTIVE TASKS', value: (s) => s.active_tasks },
  { header: 'COORDINATION', value: (s) => s.coordination_status },
  { header: 'AVG TASK TIME', value: (s) => seconds(s.performance_metrics.avg_task_time) },
  { header: 'SUCCESS RATE', value: (s) => percent(s.performance_metrics.success_rate) },
  { header: 'EFFICIENCY', value: (s) => percent(s.performance_metrics.coordination_efficiency) },
];

/** One row per swarm: members (active/total), tasks under way and the measured figures ("-" before there are any). */
export function renderSwarmStatus(list: SwarmStatusView[]): string {
  if (!list.length) return 'no swarms: join one with `aitbc swarm join --role ROLE --capability TAG`\n';
  return renderTable(list, swarmColumns) + `\n${count(list.length, 'swarm')}\n`;
}

export interface TaskWatchDeps extends Pick<Session, 'client'> {
  /** Where the progress line is drawn (stderr, so that stdout keeps only the final view). */
  write(text: string): void;
  /** Whether that is a terminal: the line is then redrawn in place. */
  tty: boolean;
  intervalMs: number;
  /** Stops watching (Ctrl-C); the task goes on. */
  signal: AbortSignal;
}

/** Polls the task until it is finished (or `signal` aborts), drawing its progress; returns the last state seen. */
export async function watchSwarmTask(options: { taskId: string }, deps: TaskWatchDeps): Promise<SwarmTaskView> {
  const line = progressLine(deps.write, deps.tty);
  try {
    let view = await runSwarmTaskStatus(options, deps);
    line.update(taskProgress(view));
    while (!TASK_FINISHED.has(view.status) && !deps.signal.aborted) {
      await sleep(deps.intervalMs, deps.signal);
      if (deps.signal.aborted) break;
      view = await runSwarmTaskStatus(options, deps);
      line.update(taskProgress(view));
    }
    return view;
  } finally {
    line.done();
  }
}

export interface SwarmWatchDeps extends Pick<Session, 'client'> {
  format(status: SwarmStatusView[]): string;
  write(text: string): void;
  tty: boolean;
  intervalMs: number;
  signal: AbortSignal;
}

/** Refreshes the swarms' status every intervalMs until `signal` aborts; returns how many refreshes were shown. */
export async function watchSwarmStatus(options: { swarmId?: string }, deps: SwarmWatchDeps): Promise<number> {
  const view = screen(deps.write, deps.tty);
  let shown = 0;
  while (!deps.signal.aborted) {
    const status = await runSwarmStatus(options, deps);
    if (deps.signal.aborted) break;
    view.show(deps.format(status));
    shown++;
    await sleep(deps.intervalMs, deps.signal);
  }
  return shown;
}

export function addSwarmStatus(swarm: Command, deps: CliDeps): void {
  swarm
    .command('status')
    .description("a task's status and progress (TASK_ID), or your swarms' members, tasks and performance")
    .argument('[task-id]', 'a coordination task')
    .option('--swarm-id <id>', 'only this swarm (without a task id)')
    .option('--watch', 'a task: follow its progress until it finishes; swarms: refresh until Ctrl-C')
    .option('--real-time', 'the same as --watch')
    .option('--interval <seconds>', `seconds between polls with --watch (default ${DEFAULT_WATCH_SECONDS})`, parseSeconds)
    .action(
      withSession(deps, async (session, command) => {
        const [task] = command.processedArgs as [string | undefined];
        const { swarmId, watch, realTime, interval } = command.opts<{
          swarmId?: string;
          watch?: boolean;
          realTime?: boolean;
          interval?: number;
        }>();
        const intervalMs = (interval ?? DEFAULT_WATCH_SECONDS) * 1000;
        if (task !== undefined) {
          if (swarmId !== undefined) throw new UsageError('give a task id or --swarm-id, not both: a task belongs to one swarm');
          if (!watch && !realTime) {
            session.show(await runSwarmTaskStatus({ taskId: task }, session), renderTaskStatus);
            return;
          }
          const last = await untilSignalled((stop) =>
            watchSwarmTask(
              { taskId: task },
              { client: session.client, write: deps.stderr, tty: isTerminal('stderr'), intervalMs, signal: stop },
            ),
          );
          session.show(last, renderTaskStatus);
          return;
        }
        const options = swarmId !== undefined ? { swarmId } : {};
        if (!watch && !realTime) {
          session.show(await runSwarmStatus(options, session), renderSwarmStatus);
          return;
        }
        await untilSignalled((stop) =>
          watchSwarmStatus(options, {
            client: session.client,
            format: (s) => formatOutput(session.settings.output.value, s, renderSwarmStatus),
            write: deps.stdout,
            tty: isTerminal('stdout'),
            intervalMs,
            signal: stop,
          }),
        );
      }),
    );
}

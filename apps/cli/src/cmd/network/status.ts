import type { AgentMetrics, NetworkMetrics, NetworkStatusView } from '@aitbc/core';
import type { Command } from 'commander';
import { integerFrom } from '../../flags.ts';
import { type Column, formatOutput, renderFields, renderTable } from '../../output.ts';
import { isTerminal, parseSeconds, screen, sleep } from '../../progress.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { untilSignalled } from '../../signals.ts';
import { networkIdOf } from '../../refs.ts';
import { verificationFields } from '../../verification.ts';

export interface NetworkStatusOptions {
  id: string;
  /** `all` (the default) or comma-separated metric names, passed to the server as is. */
  metrics?: string;
  /** Seconds the throughput is measured over (the server's default is 3600). */
  window?: number;
}

export async function runNetworkStatus(options: NetworkStatusOptions, session: Pick<Session, 'client'>): Promise<NetworkStatusView> {
  const metrics = options.metrics?.trim();
  return session.client.network.status.query({
    network_id: await networkIdOf(options.id, session),
    ...(metrics && metrics !== 'all' ? { metrics } : {}),
    ...(options.window !== undefined ? { window_seconds: options.window } : {}),
  });
}

const seconds = (v: number | null | undefined) => (v === null || v === undefined ? null : `${round(v)} s`);
const percent = (v: number | null | undefined) => (v === null || v === undefined ? null : `${round(v * 100)}%`);

function round(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}

const agentColumns: Column<AgentMetrics>[] = [
  { header: 'AGENT', value: (a) => a.name ?? a.agent_id, flex: true },
  { header: 'LIVE', value: (a) => (a.live ? 'yes' : 'no') },
  { header: 'OPEN', value: (a) => a.open_subtasks },
  { header: 'COMPLETED', value: (a) => a.completed },
  { header: 'FAILED', value: (a) => a.failed },
  { header: 'EXPIRED', value: (a) => a.expired },
  { header: 'FAILURE RATE', value: (a) => percent(a.failure_rate) },
  { header: 'AVG TASK TIME', value: (a) => seconds(a.avg_task_time) },
];

/** The metrics that are present (a `--metrics` subset shows only its own), then the per-agent table. */
export function renderMetrics(m: Partial<NetworkMetrics>): string {
  const fields: Record<string, unknown> = {};
  const set = (key: keyof NetworkMetrics, value: unknown) => {
    if (key in m) fields[key] = value;
  };
  set('avg_execution_time', seconds(m.avg_execution_time));
  set('p95_execution_time', seconds(m.p95_execution_time));
  set('success_rate', percent(m.success_rate));
  const window = m.throughput_window_seconds !== undefined ? ` over the last ${m.throughput_window_seconds} s` : '';
  set('throughput', m.throughput !== undefined ? `${round(m.throughput)} subtasks/min${window}` : null);
  if (!('throughput' in m))
    set('throughput_window_seconds', m.throughput_window_seconds !== undefined ? `${m.throughput_window_seconds} s` : null);
  set('avg_task_time', seconds(m.avg_task_time));
  set('queue_depth', m.queue_depth);
  set('in_flight', m.in_flight);
  set('disagreement_rate', percent(m.disagreement_rate));
  set('sample', m.sample ? `${m.sample.executions} executions, ${m.sample.attempts} attempts` : null);
  const parts = [Object.keys(fields).length ? renderFields(fields) : ''];
  if (m.agents) parts.push(m.agents.length ? renderTable(m.agents, agentColumns) : 'no agents\n');
  return parts.filter(Boolean).join('\n');
}

export function renderNetworkStatus(s: NetworkStatusView): string {
  const { performance_metrics: metrics, verification, ...spec } = s;
  const shown = renderMetrics(metrics);
  return renderFields({ ...spec, ...verificationFields(verification) }) + (shown ? `\nperformance metrics:\n${shown}` : '');
}

export interface WatchDeps extends Pick<Session, 'client'> {
  /** The text for one refresh (the chosen output format). */
  format(status: NetworkStatusView): string;
  write(text: string): void;
  /** Whether stdout is a terminal: each refresh then clears the screen. */
  tty: boolean;
  intervalMs: number;
  /** Ends the watch (Ctrl-C); the refresh under way finishes first. */
  signal: AbortSignal;
}

/** Refreshes the status every intervalMs until `signal` aborts; returns how many refreshes were shown. */
export async function watchNetworkStatus(options: NetworkStatusOptions, deps: WatchDeps): Promise<number> {
  const view = screen(deps.write, deps.tty);
  // A name is resolved once (it lists the networks), not on every refresh.
  const resolved = { ...options, id: await networkIdOf(options.id, deps) };
  let shown = 0;
  while (!deps.signal.aborted) {
    const status = await runNetworkStatus(resolved, deps);
    if (deps.signal.aborted) break;
    view.show(deps.format(status));
    shown++;
    await sleep(deps.intervalMs, deps.signal);
  }
  return shown;
}

export function addNetworkStatus(network: Command, deps: CliDeps): void {
  network
    .command('status')
    .description("a network's status and performance metrics, computed from its recorded work")
    .argument('<network>', 'the network: its id or name')
    .option('--metrics <list>', 'all, or comma-separated metric names (e.g. throughput,agents)')
    .option('--window <seconds>', 'the throughput window in seconds (default 3600)', integerFrom(1, 30 * 86_400))
    .option('--watch', 'refresh until Ctrl-C')
    .option('--interval <seconds>', 'seconds between refreshes with --watch (default 2)', parseSeconds)
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        const { watch, interval, ...flags } = command.opts<Omit<NetworkStatusOptions, 'id'> & { watch?: boolean; interval?: number }>();
        const options = { ...flags, id };
        if (!watch) {
          session.show(await runNetworkStatus(options, session), renderNetworkStatus);
          return;
        }
        await untilSignalled((stop) =>
          watchNetworkStatus(options, {
            client: session.client,
            format: (s) => formatOutput(session.settings.output.value, s, renderNetworkStatus),
            write: deps.stdout,
            tty: isTerminal('stdout'),
            intervalMs: (interval ?? 2) * 1000,
            signal: stop,
          }),
        );
      }),
    );
}

import { type NetworkOptimizationView, OBJECTIVES, type Objective, type Recommendation } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { formatValue, renderFields, TERMINAL_WIDTH, truncate } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { renderMetrics } from './status.ts';
import { networkIdOf } from '../../refs.ts';

export interface NetworkOptimizeOptions {
  id: string;
  /** What the recommendations are ranked for (default efficiency). */
  objective?: Objective;
}

export async function runNetworkOptimize(
  options: NetworkOptimizeOptions,
  session: Pick<Session, 'client'>,
): Promise<NetworkOptimizationView> {
  return session.client.network.optimizeFor.mutate({
    network_id: await networkIdOf(options.id, session),
    objective: options.objective ?? 'efficiency',
  });
}

/** `k=v, k=v` on one line, values as table cells show them. */
function compact(record: Record<string, unknown>): string {
  const entries = Object.entries(record);
  return entries.length ? entries.map(([k, v]) => `${k}=${formatValue(v)}`).join(', ') : '-';
}

/** The update flags for the API fields of an `action`. */
const ACTION_FLAGS: Record<string, string> = {
  agents: '--agents',
  coordination_strategy: '--strategy',
  lease_seconds: '--lease-seconds',
  claim_timeout_seconds: '--claim-timeout',
  max_attempts: '--max-attempts',
  replication: '--replication',
  max_replication: '--max-replication',
  status: '--status',
};

/** The command that applies an action when it is an update of the network, else its fields. */
export function actionText(action: Record<string, unknown>, networkId: string): string {
  const entries = Object.entries(action);
  if (!entries.length || entries.some(([k]) => !(k in ACTION_FLAGS))) return compact(action);
  return `aitbc agent network update ${networkId} ` + entries.map(([k, v]) => `${ACTION_FLAGS[k]} ${formatValue(v)}`).join(' ');
}

const figure = (v: number | null) => (v === null ? '-' : String(Math.round(v * 1000) / 1000));

function renderRecommendation(r: Recommendation, index: number, networkId: string): string {
  const line = (label: string, text: string) => truncate(`   ${label.padEnd(9)} ${text}`, TERMINAL_WIDTH);
  // The action is a command to copy: never cut.
  const { metric, current, expected } = r.expected_impact;
  return [
    `${index + 1}. ${r.type} (${r.impact} impact)`,
    ...wrap(r.description, TERMINAL_WIDTH - 3).map((l) => `   ${l}`),
    line('expected:', `${metric} ${figure(current)} → ${figure(expected)}`),
    line('evidence:', compact(r.evidence)),
    `   ${'action:'.padEnd(9)} ${actionText(r.action, networkId)}`,
  ].join('\n');
}

/** Words into lines of at most `width` characters (a longer word gets its own line). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (current && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else {
      current = current ? `${current} ${word}` : word;
    }
  }
  if (current) lines.push(current);
  return lines;
}

export function renderOptimization(o: NetworkOptimizationView): string {
  const head = renderFields({ network_id: o.network_id, objective: o.optimization_type, optimized_at: o.optimized_at });
  const recommendations = o.recommendations.length
    ? `\n${o.recommendations.length === 1 ? '1 recommendation' : `${o.recommendations.length} recommendations`}:\n${o.recommendations.map((r, i) => renderRecommendation(r, i, o.network_id)).join('\n\n')}\n`
    : `\nno recommendations: nothing in the measured metrics calls for a change for ${o.optimization_type}` +
      (o.performance_metrics.sample.attempts === 0 ? ' (the network has no finished work to measure yet)' : '') +
      '\n';
  return `${head}${recommendations}\nperformance metrics:\n${renderMetrics(o.performance_metrics)}`;
}

export function addNetworkOptimize(network: Command, deps: CliDeps): void {
  network
    .command('optimize')
    .description('recommendations for a network, read from its measured metrics (nothing is changed)')
    .argument('<network>', 'the network: its id or name')
    .addOption(new Option('--objective <objective>', 'what to optimize for (default efficiency)').choices(OBJECTIVES))
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        session.show(await runNetworkOptimize({ ...command.opts<Omit<NetworkOptimizeOptions, 'id'>>(), id }, session), renderOptimization);
      }),
    );
}

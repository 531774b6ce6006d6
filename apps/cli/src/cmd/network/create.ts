import {
  COORDINATION_STRATEGIES,
  type CoordinationStrategy,
  DEFAULT_NETWORK_SETTINGS,
  type NetworkSettings,
  type NetworkView,
} from '@aitbc/core';
import { type Command, Option } from 'commander';
import { resolveAgentRefs } from '../../refs.ts';
import { UsageError } from '../../failure.ts';
import { commaList, integerFrom, numberFrom } from '../../flags.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { addVerificationOptions, type VerificationFlags, verificationFrom } from '../../verification.ts';
import { renderNetwork } from './get.ts';

/** The network settings as flags (create and update). */
export interface NetworkSettingFlags extends VerificationFlags {
  leaseSeconds?: number;
  claimTimeout?: number;
  maxAttempts?: number;
  replication?: number;
  maxReplication?: number;
  /** --work-stealing / --no-work-stealing; undefined when neither is given. */
  workStealing?: boolean;
  speculation?: boolean;
  speculationMultiplier?: number;
  speculationQuantile?: number;
  retryBase?: number;
  retryMax?: number;
  maxAttemptSeconds?: number;
}

/** `--coordination` is the legacy CLI's name, `--strategy` the short one; either sets the strategy. */
export interface StrategyFlags {
  coordination?: CoordinationStrategy;
  strategy?: CoordinationStrategy;
}

export interface NetworkCreateOptions extends NetworkSettingFlags, StrategyFlags {
  name: string;
  /** Agent ids or names of the caller's agents. */
  agents: string[];
  description?: string;
}

export function strategyFrom(flags: StrategyFlags): CoordinationStrategy | undefined {
  const { coordination, strategy } = flags;
  if (coordination !== undefined && strategy !== undefined && coordination !== strategy) {
    throw new UsageError(`--coordination ${coordination} and --strategy ${strategy} disagree; give one of them`);
  }
  return coordination ?? strategy;
}

/** The settings given, as the API names them; absent flags are left out. */
export function settingsFrom(flags: NetworkSettingFlags): Partial<NetworkSettings> {
  const settings: Partial<NetworkSettings> = {
    lease_seconds: flags.leaseSeconds,
    claim_timeout_seconds: flags.claimTimeout,
    max_attempts: flags.maxAttempts,
    replication: flags.replication,
    max_replication: flags.maxReplication,
    work_stealing: flags.workStealing,
    speculation: flags.speculation,
    speculation_multiplier: flags.speculationMultiplier,
    speculation_quantile: flags.speculationQuantile,
    retry_base_seconds: flags.retryBase,
    retry_max_seconds: flags.retryMax,
    max_attempt_seconds: flags.maxAttemptSeconds,
  };
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
}

export function addStrategyOptions(command: Command, what: string): Command {
  return command
    .addOption(new Option('--coordination <strategy>', what).choices(COORDINATION_STRATEGIES))
    .addOption(new Option('--strategy <strategy>', 'the same as --coordination').choices(COORDINATION_STRATEGIES));
}

export function addSettingOptions(command: Command): Command {
  const d = DEFAULT_NETWORK_SETTINGS;
  command
    .option('--lease-seconds <n>', 'how long a claim holds a subtask without a heartbeat (default 30)', integerFrom(1, 3600))
    .option('--claim-timeout <n>', 'seconds an assigned subtask may wait unclaimed before it moves on (default 30)', integerFrom(1, 86_400))
    .option('--max-attempts <n>', 'claims a subtask gets before it fails for good (default 3)', integerFrom(1, 100))
    .option('--replication <n>', 'hybrid: agents that must agree on each subtask (default 2)', integerFrom(1, 16))
    .option('--max-replication <n>', 'hybrid: the most agents a disputed subtask is given (default 4)', integerFrom(1, 32))
    .option('--work-stealing', 'an idle agent may take another agent’s unclaimed subtasks (the default)')
    .option('--no-work-stealing', 'each subtask waits for the agent it was planned for (until the claim timeout)')
    .option('--speculation', 'a straggling subtask gets a backup copy on an idle agent; the first result wins (the default)')
    .option('--no-speculation', 'no backup copies: a stalled attempt holds its subtask until its time limit')
    .option(
      '--speculation-multiplier <x>',
      `a straggler has run this many times its siblings’ median (default ${d.speculation_multiplier})`,
      numberFrom(1, 100),
    )
    .option(
      '--speculation-quantile <share>',
      `the share of subtasks done before any backup starts (default ${d.speculation_quantile})`,
      numberFrom(0, 1),
    )
    .option(
      '--retry-base <seconds>',
      `a failed attempt is retried after about this long, doubling each time, jittered; 0 at once (default ${d.retry_base_seconds})`,
      numberFrom(0, 3600),
    )
    .option('--retry-max <seconds>', `the longest wait before a retry (default ${d.retry_max_seconds})`, numberFrom(0, 86_400))
    .option(
      '--max-attempt-seconds <n>',
      `the longest one attempt may run, whatever its heartbeats say (default ${d.max_attempt_seconds})`,
      integerFrom(1, 7 * 86_400),
    );
  return addVerificationOptions(command);
}

/** Resolves the agents (ids or names) first: an unknown or ambiguous one creates nothing. */
export async function runNetworkCreate(options: NetworkCreateOptions, session: Pick<Session, 'client'>): Promise<NetworkView> {
  if (options.agents.length === 0) throw new UsageError('--agents needs at least one agent id or name');
  const strategy = strategyFrom(options);
  const agents = await resolveAgentRefs(options.agents, session);
  return session.client.network.create.mutate({
    name: options.name,
    agents,
    ...(options.description !== undefined ? { description: options.description } : {}),
    ...(strategy !== undefined ? { coordination_strategy: strategy } : {}),
    ...settingsFrom(options),
    ...verificationOf(options),
  });
}

/** `{verification}` when a verification flag is given, else nothing. */
export function verificationOf(flags: VerificationFlags) {
  const verification = verificationFrom(flags);
  return verification ? { verification } : {};
}

export function addNetworkCreate(network: Command, deps: CliDeps): void {
  const command = network
    .command('create')
    .description('create an agent network from your agents')
    .requiredOption('--name <name>', 'the network name')
    .requiredOption('--agents <list>', 'comma-separated ids or names of your agents', commaList)
    .option('--description <text>', 'what the network is for');
  addStrategyOptions(command, 'how subtasks are handed to the agents (default round-robin)');
  addSettingOptions(command).action(
    withSession(deps, async (session, command) => {
      session.show(await runNetworkCreate(command.opts<NetworkCreateOptions>(), session), renderNetwork);
    }),
  );
}

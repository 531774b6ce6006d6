import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  CONSENSUS_ALGORITHMS,
  type ConsensusAlgorithm,
  type CoordinateView,
  type CoordinationParameters,
  REDUCERS,
  type Reducer,
  SWARM_ROLES,
  SWARM_STRATEGIES,
  type SwarmRole,
  type SwarmStrategy,
} from '@aitbc/core';
import { type Command, Option } from 'commander';
import { CliError, UsageError } from '../../failure.ts';
import { integerFrom } from '../../flags.ts';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { parseShare } from './consensus.ts';
import { present } from './render.ts';

export interface SwarmCoordinateOptions {
  /** A repeat under this key (within 24 h) gets the first task, not a second one (default: a fresh key per run). */
  idempotencyKey?: string;
  /** The spec's: the task's id (generated when absent). */
  taskId?: string;
  /** The legacy CLI's: the task itself, as text. */
  task?: string;
  swarmId?: string;
  strategy?: SwarmStrategy;
  collaborators?: number;
  /** Seconds until the task times out. */
  timeout?: number;
  /** JSON object text, or @file. */
  parameters?: string;
  /** JSON array text, or @file. */
  items?: string;
  reduce?: Reducer;
  capability?: string;
  region?: string;
  role?: SwarmRole;
  algorithm?: ConsensusAlgorithm;
  threshold?: number;
}

export interface SwarmCoordinateDeps extends Pick<Session, 'client'> {
  /** `@file` paths resolve against it. */
  cwd: string;
}

/** A flag's JSON: the text itself, or the contents of `@file`. */
async function jsonFlag(flag: string, value: string, cwd: string): Promise<unknown> {
  let text = value;
  let where = flag;
  if (value.startsWith('@')) {
    const file = value.slice(1);
    where = `${flag} file ${file}`;
    try {
      text = await readFile(resolve(cwd, file), 'utf8');
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      throw new CliError(
        `cannot read the ${where}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a directory' : e.message}`,
      );
    }
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${where} is not valid JSON: ${(error as Error).message}`);
  }
}

const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);

/**
 * The coordination parameters: --parameters first, then the flags that name
 * one of them (--items, --reduce, --capability, --region, --role,
 * --algorithm, --threshold) over it.
 */
export async function parametersFrom(options: SwarmCoordinateOptions, cwd: string): Promise<CoordinationParameters> {
  let parameters: Record<string, unknown> = {};
  if (options.parameters !== undefined) {
    const parsed = await jsonFlag('--parameters', options.parameters, cwd);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new UsageError(`--parameters must be a JSON object (e.g. {"reduce": "sum"}), not ${kindOf(parsed)}`);
    }
    parameters = { ...parsed };
  }
  if (options.items !== undefined) {
    const items = await jsonFlag('--items', options.items, cwd);
    if (!Array.isArray(items)) throw new UsageError(`--items must be a JSON array (e.g. [1, 2, 3]), not ${kindOf(items)}`);
    parameters['items'] = items;
  }
  const flags: Record<string, unknown> = {
    reduce: options.reduce,
    capability: options.capability,
    region: options.region,
    role: options.role,
    consensus_algorithm: options.algorithm,
    consensus_threshold: options.threshold,
  };
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) parameters[key] = value;
  return parameters as CoordinationParameters;
}

/**
 * Hands a task to selected members. Only what was given is sent: the server
 * applies the defaults (map-reduce; 3 collaborators, or 5 for the legacy
 * strategies; one hour). Too few eligible members is the server's 409,
 * naming what is missing.
 */
export async function runSwarmCoordinate(options: SwarmCoordinateOptions, deps: SwarmCoordinateDeps): Promise<CoordinateView> {
  const parameters = await parametersFrom(options, deps.cwd);
  return deps.client.swarm.coordinate.mutate({
    ...(options.taskId !== undefined ? { task_id: options.taskId } : {}),
    ...(options.swarmId !== undefined ? { swarm_id: options.swarmId } : {}),
    ...(options.strategy !== undefined ? { strategy: options.strategy } : {}),
    ...(Object.keys(parameters).length ? { parameters } : {}),
    ...(options.task !== undefined ? { task: options.task } : {}),
    ...(options.collaborators !== undefined ? { collaborators: options.collaborators } : {}),
    ...(options.timeout !== undefined ? { timeout_seconds: options.timeout } : {}),
    ...(options.idempotencyKey !== undefined ? { idempotency_key: options.idempotencyKey } : {}),
  });
}

/** The task handed out, then its members one per line. */
export function renderCoordination(c: CoordinateView): string {
  const fields = present({
    task_id: c.task_id,
    swarm_id: c.swarm_id,
    strategy: c.coordination_strategy,
    status: c.status,
    collaborators: c.collaborators,
    consensus_algorithm: c.consensus_algorithm,
    subtasks: c.subtasks,
    started_at: c.started_at,
    deadline_at: c.deadline_at,
  });
  const members = `assigned members (${c.assigned_members.length}):\n` + c.assigned_members.map((m) => `  ${m}\n`).join('');
  return renderFields(fields) + members + `\nfollow it: aitbc swarm status ${c.task_id} --watch\n`;
}

export function addSwarmCoordinate(swarm: Command, deps: CliDeps): void {
  swarm
    .command('coordinate')
    .description('select members of a swarm and hand them a task; their `swarm work` workers do it')
    .option('--task-id <id>', 'the task id (default: generated)')
    .option('--task <text>', 'the task itself, handed to the members (the legacy form)')
    .addOption(new Option('--strategy <strategy>', 'how the work is shared (default map-reduce)').choices(SWARM_STRATEGIES))
    .option('--collaborators <n>', 'members to select (default 3; 5 for consensus, leader-election, distributed)', integerFrom(1, 1000))
    .option('--timeout <seconds>', 'the task times out after this (default 3600)', integerFrom(1, 7 * 86_400))
    .option('--parameters <json>', 'coordination parameters as a JSON object, or @file.json')
    .option('--items <json>', 'map-reduce, distributed: the items to split, as a JSON array or @file.json')
    .addOption(new Option('--reduce <reducer>', 'map-reduce: how chunk results combine (default concat)').choices(REDUCERS))
    .option('--capability <tag>', 'only members with this capability')
    .option('--region <region>', 'only members in this region')
    .addOption(new Option('--role <role>', 'only members with this role').choices(SWARM_ROLES))
    .addOption(
      new Option('--algorithm <algorithm>', 'broadcast, consensus: how votes decide (default majority-vote)').choices(CONSENSUS_ALGORITHMS),
    )
    .option('--threshold <share>', 'the winning share threshold consensus needs (default 0.7)', parseShare)
    .option('--swarm-id <id>', 'use this swarm (default: yours with the most eligible members)')
    .option(
      '--idempotency-key <key>',
      'running the command again with this key (within 24 h) answers with the first task instead of a second',
    )
    .action(
      withSession(deps, async (session, command) => {
        const coordinated = await runSwarmCoordinate(command.opts<SwarmCoordinateOptions>(), { client: session.client, cwd: deps.cwd });
        session.show(coordinated, renderCoordination);
      }),
    );
}

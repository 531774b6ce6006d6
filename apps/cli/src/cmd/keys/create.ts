import { ALL_OF_OWNER, KEY_SCOPES, MAX_KEY_SECONDS, type KeyCreate, type KeyCreated, type KeyScope } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { UsageError } from '../../failure.ts';
import { commaList, duration } from '../../flags.ts';
import { agentIdsOf } from '../../refs.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { renderNewKey } from './render.ts';

export interface KeysCreateOptions {
  /** Whom the key acts for (default: the caller's own owner; another owner needs an admin key). */
  owner?: string;
  scope?: KeyScope;
  /** The older name of `scope` (hidden flag). */
  role?: KeyScope;
  /** Worker keys: the agents (ids or names) it may work for, or ["all"] for every one of the owner's. */
  agents?: string[];
  /** Worker keys: the member ids it may work for, or ["all"]. */
  members?: string[];
  /** Lifetime in seconds (`--expires 30d`). */
  expires?: number;
  label?: string;
  /** Print only the key, for `export AITBC_API_KEY=$(aitbc keys create -q)`. */
  quiet?: boolean;
}

/** What the flags ask for, checked before anything is sent: a wrong combination is a usage error. */
function scopeOf(options: KeysCreateOptions): KeyScope {
  if (options.scope && options.role && options.scope !== options.role)
    throw new UsageError(
      `--scope ${options.scope} and --role ${options.role} disagree; --role is the older name of --scope, give only --scope`,
    );
  const scope = options.scope ?? options.role ?? 'owner';
  for (const flag of ['agents', 'members'] as const) {
    const list = options[flag];
    if (list === undefined) continue;
    if (scope !== 'worker') throw new UsageError(`--${flag} is for worker keys only: add --scope worker`);
    if (!list.length) throw new UsageError(`--${flag} needs at least one ${flag === 'agents' ? 'agent id or name' : 'member id'}`);
    if (list.includes(ALL_OF_OWNER) && list.length > 1)
      throw new UsageError(`--${flag} ${ALL_OF_OWNER} is every one of the owner's ${flag}: give it alone, not with ids`);
  }
  if (scope === 'worker' && !options.agents && !options.members)
    throw new UsageError(
      `a worker key works only for what it names: add --agents (ids or names) and/or --members (ids), or --agents ${ALL_OF_OWNER} / --members ${ALL_OF_OWNER} for every one of the owner's`,
    );
  return scope;
}

/**
 * Agent ids for --agents. Names are looked up among the caller's own agents;
 * for another owner's key (an admin naming --owner) they go as given, ids.
 */
async function agentIds(options: KeysCreateOptions, session: Pick<Session, 'client'>): Promise<KeyCreate['agents']> {
  if (!options.agents) return undefined;
  if (options.agents[0] === ALL_OF_OWNER) return ALL_OF_OWNER;
  if (options.owner !== undefined && options.owner !== (await session.client.key.whoami.query({})).owner_id) return options.agents;
  return agentIdsOf(options.agents, session);
}

export async function runKeysCreate(options: KeysCreateOptions, session: Pick<Session, 'client'>): Promise<KeyCreated> {
  const scope = scopeOf(options);
  const agents = await agentIds(options, session);
  const input: KeyCreate = {
    ...(options.owner !== undefined ? { owner_id: options.owner } : {}),
    scope,
    ...(agents ? { agents } : {}),
    ...(options.members ? { members: options.members[0] === ALL_OF_OWNER ? ALL_OF_OWNER : [...new Set(options.members)] } : {}),
    ...(options.expires !== undefined ? { expires_in_seconds: options.expires } : {}),
    ...(options.label !== undefined ? { label: options.label } : {}),
  };
  return session.client.key.create.mutate(input);
}

export function renderKeyCreated(created: KeyCreated, now = Date.now()): string {
  return renderNewKey(`New ${created.scope} API key for ${created.owner_id}. It is shown only this once; store it now:`, created, now);
}

export function addKeysCreate(keys: Command, deps: CliDeps): void {
  keys
    .command('create')
    .description('issue an API key: owner keys issue keys for their own owner, never wider than themselves; admin keys for anyone')
    .option('--owner <name>', "who the key acts for (default: yours); another owner's key needs an admin key")
    .addOption(
      new Option(
        '--scope <scope>',
        'worker (work only), read (reads only), owner (everything of its owner) or admin (default owner)',
      ).choices(KEY_SCOPES),
    )
    .addOption(new Option('--role <scope>', 'the older name of --scope').choices(KEY_SCOPES).hideHelp())
    .option(
      '--agents <ids-or-names>',
      `worker keys: only these agents, comma-separated, or ${ALL_OF_OWNER} for every one of the owner's (not given: none)`,
      commaList,
    )
    .option(
      '--members <ids>',
      `worker keys: only these swarm member ids, comma-separated, or ${ALL_OF_OWNER} for every one of the owner's (not given: none)`,
      commaList,
    )
    .option(
      '--expires <duration>',
      'the key stops working after this long: 45s, 90m, 12h, 30d, 2w (default never)',
      duration(1, MAX_KEY_SECONDS),
    )
    .option('--label <text>', 'a note to recognise the key by')
    .option('-q, --quiet', 'print only the key: export AITBC_API_KEY=$(aitbc keys create --scope worker --agents a1 -q)')
    .action(
      withSession(deps, async (session, command) => {
        const options = command.opts<KeysCreateOptions>();
        if (options.role) deps.stderr('aitbc: --role is deprecated; use --scope\n');
        const created = await runKeysCreate(options, session);
        if (options.quiet) deps.stdout(`${created.key}\n`);
        else session.show(created, (c) => renderKeyCreated(c));
      }),
    );
}

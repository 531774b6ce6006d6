// Agents and networks as the user names them on the command line: by id or by name.
import type { AgentView, NetworkView, WhoAmI } from '@aitbc/core';
import { CliError } from './failure.ts';
import type { Session } from './session.ts';

const PAGE_MAX = 500;

/** Every one of the caller's agents, following next_cursor to the last page. */
export async function allAgents({ client }: Pick<Session, 'client'>): Promise<AgentView[]> {
  const agents: AgentView[] = [];
  let cursor: string | null = null;
  do {
    const page: { agents: AgentView[]; next_cursor: string | null } = await client.agent.list.query({
      limit: PAGE_MAX,
      ...(cursor ? { cursor } : {}),
    });
    if (cursor !== null && page.next_cursor === cursor) throw new CliError('the server returned the same page of agents twice; stopping');
    agents.push(...page.agents);
    cursor = page.next_cursor;
  } while (cursor);
  return agents;
}

/**
 * The agent a reference means among `agents`: the one with that id, else the
 * one with that name. A reference that is one agent's id and another's name
 * is refused rather than guessed at.
 */
export function matchAgentRef(ref: string, agents: readonly AgentView[]): AgentView {
  const wanted = ref.trim();
  const byId = agents.find((a) => a.id === wanted);
  const byName = agents.find((a) => a.name === wanted);
  if (byId && byName && byId.id !== byName.id) {
    throw new CliError(
      `ambiguous agent '${wanted}': it is the id of agent ${byId.name} and the name of agent ${byName.id}; rename one of them or give the other's id`,
    );
  }
  const agent = byId ?? byName;
  if (!agent) throw new CliError(`unknown agent '${wanted}': not an id or name of one of your agents`);
  return agent;
}

/** Agent ids for references given as ids or names, in order and without repeats. */
export async function resolveAgentRefs(refs: readonly string[], session: Pick<Session, 'client'>): Promise<string[]> {
  const agents = await allAgents(session);
  const ids = refs.map((ref) => matchAgentRef(ref, agents).id);
  return [...new Set(ids)];
}

/** The one agent a reference names. */
export async function resolveAgentRef(ref: string, session: Pick<Session, 'client'>): Promise<AgentView> {
  return matchAgentRef(ref, await allAgents(session));
}

/** Ids the server makes are UUIDs; anything else given where an id goes is taken for a name. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a reference is an id the server made rather than a name. */
export function looksLikeId(ref: string): boolean {
  return UUID.test(ref.trim());
}

/** An agent's id from its id or name; an id is used as given, with no request. */
export async function agentIdOf(ref: string, session: Pick<Session, 'client'>): Promise<string> {
  const wanted = ref.trim();
  return UUID.test(wanted) ? wanted : (await resolveAgentRef(wanted, session)).id;
}

/** Agent ids for references given as ids or names, in order and without repeats; only names need a request. */
export async function agentIdsOf(refs: readonly string[], session: Pick<Session, 'client'>): Promise<string[]> {
  const wanted = refs.map((r) => r.trim());
  return wanted.every((r) => UUID.test(r)) ? [...new Set(wanted)] : resolveAgentRefs(wanted, session);
}

/**
 * The agent a worker key means by `ref`. A worker key cannot list agents: it
 * knows the names of only the agents it names (whoami's agent_names). A key
 * that names none works for all of its owner's agents, and takes an id only.
 */
export function workerAgentRef(ref: string, me: Pick<WhoAmI, 'owner_id' | 'agents' | 'agent_names'>): { id: string; name: string | null } {
  const wanted = ref.trim();
  if (me.agents === null) {
    if (UUID.test(wanted)) return { id: wanted, name: null };
    throw new CliError(
      `a worker key cannot look agents up by name, and this one names no agents (it works for all of ${me.owner_id}'s): pass the agent's id (aitbc agent list, with an owner or read key)`,
    );
  }
  const named = me.agents.map((id) => ({ id, name: me.agent_names?.[id] ?? null }));
  const byId = named.find((a) => a.id === wanted);
  const byName = named.find((a) => a.name === wanted);
  if (byId && byName && byId.id !== byName.id) {
    throw new CliError(
      `ambiguous agent '${wanted}': it is the id of agent ${byId.name ?? byId.id} and the name of agent ${byName.id}; give an id`,
    );
  }
  const agent = byId ?? byName;
  if (agent) return agent;
  const list = named.map((a) => (a.name ? `${a.name} (${a.id})` : a.id)).join(', ');
  throw new CliError(
    `this worker key works only for ${named.length ? `agent${named.length === 1 ? '' : 's'} ${list}` : 'no agents'}; not for '${wanted}'`,
  );
}

/** Every one of the caller's networks, archived ones too, following next_cursor to the last page. */
async function allNetworks({ client }: Pick<Session, 'client'>): Promise<NetworkView[]> {
  const networks: NetworkView[] = [];
  for (const status of [undefined, 'archived'] as const) {
    let cursor: string | null = null;
    do {
      const page: { networks: NetworkView[]; next_cursor: string | null } = await client.network.list.query({
        limit: PAGE_MAX,
        ...(status ? { status } : {}),
        ...(cursor ? { cursor } : {}),
      });
      if (cursor !== null && page.next_cursor === cursor)
        throw new CliError('the server returned the same page of networks twice; stopping');
      networks.push(...page.networks);
      cursor = page.next_cursor;
    } while (cursor);
  }
  return networks;
}

/**
 * A network's id from its id or name. Network names need not be unique: a
 * name two networks share is refused with their ids, never guessed at.
 */
export async function networkIdOf(ref: string, session: Pick<Session, 'client'>): Promise<string> {
  const wanted = ref.trim();
  if (UUID.test(wanted)) return wanted;
  const named = (await allNetworks(session)).filter((n) => n.name === wanted);
  if (named.length === 1) return named[0]!.id;
  if (named.length === 0) throw new CliError(`unknown network '${wanted}': not an id or name of one of your networks`);
  throw new CliError(
    `ambiguous network '${wanted}': ${named.length} of your networks have that name (${named.map((n) => n.id).join(', ')}); give an id`,
  );
}

// Agents as the user names them on the command line: by id or by name.
import type { AgentView } from '@aitbc/core';
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

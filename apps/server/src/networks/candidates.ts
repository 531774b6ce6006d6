import type { Candidate } from '@aitbc/core';
import { dialectal, fromJson, inList, join, raw, type Sql, sql, time } from '../db/sql.ts';
import { openLoadOf } from '../work/open-work.ts';
import { type NetworkRow, networkFrom } from './views.ts';

/** Completed attempts per agent that the centralized strategy's speed estimate reads. */
const SPEED_SAMPLE = 200;

/**
 * An agent is live when it is not marked offline and was seen (registered
 * online, claimed, heartbeat) within the network's claim timeout.
 */
export function isLive(agent: { status: string; lastSeen: Date | null }, claimTimeoutSeconds: number, now: Date): boolean {
  return agent.status !== 'offline' && agent.lastSeen !== null && now.getTime() - agent.lastSeen.getTime() <= claimTimeoutSeconds * 1000;
}

/**
 * Each agent's mean seconds per completed attempt over its latest
 * SPEED_SAMPLE: one statement for all of them (a bounded read per agent,
 * on the attempts' (assignee, outcome, ended) index).
 */
export async function meanTaskSeconds(db: Sql, agentIds: string[]): Promise<Map<string, number>> {
  if (agentIds.length === 0) return new Map();
  const duration = dialectal(
    `unixepoch(a."ended_at", 'subsec') - unixepoch(a."started_at", 'subsec')`,
    `EXTRACT(EPOCH FROM a."ended_at" - a."started_at")`,
  );
  const rows = await db.all<{ id: string; mean: unknown }>(sql`
    WITH "ids"("id") AS (VALUES ${join(agentIds.map((id) => sql`(${id})`))})
    SELECT "ids"."id", (
      SELECT AVG("s") FROM (
        SELECT ${duration} AS "s" FROM "subtask_attempts" a
        WHERE a."assignee_id" = "ids"."id" AND a."outcome" = 'completed'
        ORDER BY a."ended_at" DESC LIMIT ${raw(String(SPEED_SAMPLE))}) AS "latest"
    ) AS "mean" FROM "ids"`);
  return new Map(rows.flatMap((r) => (r.mean === null || r.mean === undefined ? [] : [[r.id, Number(r.mean)] as const])));
}

/** An agent as loadCandidates reads it. */
interface AgentRow {
  id: string;
  capabilities: unknown;
  status: string;
  last_seen: unknown;
  host: string | null;
  open: unknown;
}

/** The agent columns the strategies read, each as "agent_<column>" (a candidate's open load in the same read). */
const agentColumns = sql`a."id" AS "agent_id", a."capabilities" AS "agent_capabilities", a."status" AS "agent_status",
  a."last_seen" AS "agent_last_seen", a."host" AS "agent_host", ${openLoadOf(sql`a."id"`)} AS "agent_open"`;

/** An agent that is not quarantined (README "Verification"): a quarantined agent gets no work. */
const notQuarantined = (now: Date) =>
  sql`NOT EXISTS (SELECT 1 FROM "validation_records" v WHERE v."id" = a."id" AND v."quarantined_until" > ${now})`;

const agentOf = (r: Record<string, unknown>): AgentRow => ({
  id: r.agent_id as string,
  capabilities: r.agent_capabilities,
  status: r.agent_status as string,
  last_seen: r.agent_last_seen,
  host: (r.agent_host as string | null) ?? null,
  open: r.agent_open,
});

/**
 * The network's agents as the strategies see them, in network order, with
 * their host labels; deleted agents drop out, and so do quarantined ones.
 */
export async function loadCandidates(db: Sql, network: NetworkRow, now: Date): Promise<Candidate[]> {
  const ids = network.agents as string[];
  const [agents, speeds] = await Promise.all([
    db.all(sql`
      SELECT ${agentColumns} FROM "agents" a
      WHERE a."owner_id" = ${network.ownerId} AND a."id" ${inList(ids)} AND ${notQuarantined(now)}`),
    speedsOf(db, network),
  ]);
  return candidatesOf(network, agents.map(agentOf), speeds, now);
}

/**
 * The network (undefined if the owner has none of that id) and its candidates, read in one statement: the network's
 * row beside each of its agents that exists (one row with no agent when none does). An execute's one read before its
 * write. The centralized strategy's speeds take one more.
 */
export async function networkWithCandidates(
  db: Sql,
  ownerId: string,
  networkId: string,
  now: Date,
): Promise<{ network: NetworkRow; candidates: Candidate[] } | undefined> {
  const members = dialectal(`json_each(n."agents") AS m`, `jsonb_array_elements_text(n."agents") AS m("value")`);
  const rows = await db.all(sql`
    SELECT n.*, ${agentColumns} FROM "agent_networks" n
    LEFT JOIN ${members} ON TRUE
    LEFT JOIN "agents" a ON a."id" = m."value" AND a."owner_id" = n."owner_id" AND ${notQuarantined(now)}
    WHERE n."id" = ${networkId} AND n."owner_id" = ${ownerId}`);
  if (rows.length === 0) return undefined;
  const network = networkFrom(rows[0]!);
  const agents = rows.filter((r) => r.agent_id !== null && r.agent_id !== undefined).map(agentOf);
  return { network, candidates: candidatesOf(network, agents, await speedsOf(db, network), now) };
}

/** The centralized strategy's speed estimate per agent; the others read none. */
function speedsOf(db: Sql, network: NetworkRow): Promise<Map<string, number>> {
  return network.coordinationStrategy === 'centralized' ? meanTaskSeconds(db, network.agents as string[]) : Promise.resolve(new Map());
}

function candidatesOf(network: NetworkRow, agents: AgentRow[], speeds: Map<string, number>, now: Date): Candidate[] {
  const byId = new Map(agents.map((a) => [a.id, a]));
  return (network.agents as string[]).flatMap((id) => {
    const agent = byId.get(id);
    if (!agent) return [];
    return [
      {
        id,
        capabilities: fromJson<string[]>(agent.capabilities),
        open: Number(agent.open ?? 0),
        live: isLive({ status: agent.status, lastSeen: time(agent.last_seen) }, network.claimTimeoutSeconds, now),
        avgTaskSeconds: speeds.get(id) ?? null,
        host: agent.host ?? null,
      },
    ];
  });
}

/** The host labels of these agents (those that have one). */
export async function agentHosts(db: Sql, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db.all<{ host: string }>(sql`SELECT DISTINCT "host" FROM "agents" WHERE "id" ${inList(ids)} AND "host" IS NOT NULL`);
  return rows.map((r) => r.host);
}

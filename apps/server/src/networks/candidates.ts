import type { Candidate } from '@aitbc/core';
import { dialectal, fromJson, inList, join, raw, type Sql, sql, time } from '../db/sql.ts';
import { openLoadOf } from '../work/open-work.ts';
import type { NetworkRow } from './views.ts';

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

/**
 * The network's agents as the strategies see them, in network order, with
 * their host labels; deleted agents drop out, and so do quarantined ones
 * (README "Verification"): a quarantined agent gets no work.
 */
export async function loadCandidates(db: Sql, network: NetworkRow, now: Date): Promise<Candidate[]> {
  const ids = network.agents as string[];
  // Each agent's open load in the same read (one round trip).
  const [agents, speeds] = await Promise.all([
    db.all<{ id: string; capabilities: unknown; status: string; last_seen: unknown; host: string | null; open: unknown }>(sql`
      SELECT a."id", a."capabilities", a."status", a."last_seen", a."host", ${openLoadOf(sql`a."id"`)} AS "open" FROM "agents" a
      WHERE a."owner_id" = ${network.ownerId} AND a."id" ${inList(ids)}
        AND NOT EXISTS (SELECT 1 FROM "validation_records" v WHERE v."id" = a."id" AND v."quarantined_until" > ${now})`),
    network.coordinationStrategy === 'centralized' ? meanTaskSeconds(db, ids) : new Map<string, number>(),
  ]);
  const byId = new Map(agents.map((a) => [a.id, a]));
  return ids.flatMap((id) => {
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

import type { Candidate } from '@aitbc/core';
import type { PrismaTx } from '../db/client.ts';
import { openLoad } from '../work/open-work.ts';
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

async function meanTaskSeconds(db: PrismaTx, agentId: string): Promise<number | null> {
  const rows = await db.subtaskAttempt.findMany({
    where: { assigneeId: agentId, outcome: 'completed' },
    orderBy: { endedAt: 'desc' },
    take: SPEED_SAMPLE,
    select: { startedAt: true, endedAt: true },
  });
  if (rows.length === 0) return null;
  const total = rows.reduce((sum, r) => sum + ((r.endedAt?.getTime() ?? 0) - r.startedAt.getTime()), 0);
  return total / rows.length / 1000;
}

/** The network's agents as the strategies see them, in network order; deleted agents drop out. */
export async function loadCandidates(db: PrismaTx, network: NetworkRow, now: Date): Promise<Candidate[]> {
  const ids = network.agents as string[];
  const [agents, load] = await Promise.all([
    db.agent.findMany({ where: { ownerId: network.ownerId, id: { in: ids } } }),
    openLoad(db, ids),
  ]);
  const byId = new Map(agents.map((a) => [a.id, a]));
  const speeds =
    network.coordinationStrategy === 'centralized'
      ? await Promise.all(ids.map((id) => (byId.has(id) ? meanTaskSeconds(db, id) : null)))
      : ids.map(() => null);
  return ids.flatMap((id, i) => {
    const agent = byId.get(id);
    if (!agent) return [];
    return [
      {
        id,
        capabilities: agent.capabilities as string[],
        open: load.get(id) ?? 0,
        live: isLive(agent, network.claimTimeoutSeconds, now),
        avgTaskSeconds: speeds[i] ?? null,
      },
    ];
  });
}

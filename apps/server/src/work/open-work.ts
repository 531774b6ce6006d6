/**
 * Open work (pending, assigned and leased subtasks) read from the open_work
 * counts, which triggers on `subtasks` keep in step with every row change
 * (see prisma/schema.prisma, model OpenWork). A read sums a key's shards: a
 * few rows whatever the size of the queue.
 */
import type { PrismaTx } from '../db/client.ts';

export type OpenScope = 'network' | 'swarm' | 'assignee';

export interface OpenCounts {
  pending: number;
  assigned: number;
  leased: number;
}

const NONE: OpenCounts = { pending: 0, assigned: 0, leased: 0 };

/** Open subtasks per key of one scope; a key with nothing open is absent. */
export async function openWork(tx: PrismaTx, scope: OpenScope, keys: string[]): Promise<Map<string, OpenCounts>> {
  if (keys.length === 0) return new Map();
  const groups = await tx.openWork.groupBy({
    by: ['key'],
    where: { scope, key: { in: keys } },
    _sum: { pending: true, assigned: true, leased: true },
  });
  return new Map(groups.map((g) => [g.key, { pending: g._sum.pending ?? 0, assigned: g._sum.assigned ?? 0, leased: g._sum.leased ?? 0 }]));
}

/** One key's open subtasks. */
export async function openWorkOf(tx: PrismaTx, scope: OpenScope, key: string): Promise<OpenCounts> {
  return (await openWork(tx, scope, [key])).get(key) ?? NONE;
}

/** How many subtasks each assignee (an agent or a member) holds now: assigned or leased, across all its work. */
export async function openLoad(tx: PrismaTx, assigneeIds: string[]): Promise<Map<string, number>> {
  const counts = await openWork(tx, 'assignee', assigneeIds);
  return new Map([...counts].map(([id, c]) => [id, c.assigned + c.leased]));
}

/** Open subtasks summed over every key of a scope (the /metrics gauges). */
export async function openWorkTotal(tx: PrismaTx, scope: OpenScope): Promise<OpenCounts> {
  const total = await tx.openWork.aggregate({ where: { scope }, _sum: { pending: true, assigned: true, leased: true } });
  return { pending: total._sum.pending ?? 0, assigned: total._sum.assigned ?? 0, leased: total._sum.leased ?? 0 };
}

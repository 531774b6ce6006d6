/**
 * Urgent work (README "Tasks" and "Fairness between owners"): a parent submitted at the highest
 * priority, in a network or task that allows stealing, is taken first by
 * whichever of its assignees claims next, not only by the one it was planned
 * for. Behind a flood that one may be a slot among hundreds, whose next claim
 * waits behind its own; any claimant of the owner is a claim away.
 *
 * The parents are noted on every instance (a `work.urgent` event) and
 * forgotten once their subtasks were all seen claimed here, a claim finds
 * nothing of theirs left unclaimed, or after URGENT_MS. While none is
 * noted, a claim pays one map lookup.
 */
import type { ServerEvent } from '../events.ts';
import { type Assignee, type EngineState, parentKindOf } from './state.ts';
import { stealFrom } from './stealing.ts';
import type { SubtaskRow } from './subtasks.ts';

/** How long a parent stays noted as urgent at most: past it, its work waits for its own assignees as any other. */
const URGENT_MS = 60_000;

/** A parent whose work is urgent (from a `work.urgent` event, this instance's own included). */
export function noteUrgent(w: EngineState, e: Extract<ServerEvent, { kind: 'work.urgent' }>, now: number): void {
  w.urgent.set(e.parent_id, { ownerId: e.owner_id, kind: e.parent_kind, until: now + URGENT_MS, left: e.subtasks });
}

/** Whether the owner has urgent work noted here, not yet past its time. */
export function hasUrgent(w: EngineState, ownerId: string, now: number): boolean {
  for (const u of w.urgent.values()) if (u.ownerId === ownerId && u.until > now) return true;
  return false;
}

/** Claimed here, by whatever path: a parent whose subtasks were all seen claimed is urgent no more. */
export function claimedUrgent(w: EngineState, rows: SubtaskRow[]): void {
  if (w.urgent.size === 0) return;
  for (const s of rows) {
    const id = s.executionId ?? s.coordinationId;
    const u = id ? w.urgent.get(id) : undefined;
    if (u && --u.left <= 0) w.urgent.delete(id!);
  }
}

/**
 * The urgent work `who` may take: unclaimed subtasks of its owner's urgent parents open to it, planned for
 * others, claimed as its own (the parents' stealing rules apply). Its own urgent work its own claim takes.
 */
export async function takeUrgent(
  w: EngineState,
  ownerId: string,
  who: Assignee,
  max: number,
  leaseSeconds: number | undefined,
  now: Date,
): Promise<SubtaskRow[]> {
  if (w.urgent.size === 0) return [];
  const kind = parentKindOf(who);
  const noted = new Set<string>();
  for (const [id, u] of w.urgent) {
    if (u.until <= now.getTime()) w.urgent.delete(id);
    else if (u.ownerId === ownerId && u.kind === kind) noted.add(id);
  }
  if (noted.size === 0) return [];
  // Read for these parents alone, and not kept: the open-parents cache stays what stealing read (stealing.ts).
  const parent = w.parent(kind);
  const open = (await w.deps.db.run((_, q) => parent.openTo(q, ownerId, who.id, now, [...noted]))).filter((p) => p.stealing);
  if (open.length === 0) return [];
  const { rows, unclaimed } = await stealFrom(w, ownerId, who, open, max, leaseSeconds, now);
  // Nothing of theirs is left unclaimed by others: they are not urgent any more.
  if (!unclaimed) for (const p of open) w.urgent.delete(p.id);
  return rows;
}

import { randomBytes, randomUUID } from 'node:crypto';
import type { JoinRequest, JoinView, LeaveView, MemberCandidate, MemberStatus } from '@aitbc/core';
import { isUniqueViolation, type PrismaTx } from '../db/client.ts';
import type { Database, Tx } from '../db/database.ts';
import { join, raw, type Sql, sql } from '../db/sql.ts';
import { membersMoved } from '../stats.ts';
import { lockSwarm } from './lock.ts';
import type { WorkEngine } from '../work/engine.ts';
import { openLoad } from '../work/open-work.ts';
import { memberFrom, type SwarmRow, toCandidate, toMemberView } from './views.ts';
import { conflict, type DomainError, invalid, notFound } from '../errors.ts';
import { later } from '../clock.ts';

/** States a member can still be in: it has not left. */
export const PRESENT = ['active', 'suspect', 'failed'];
const FAILURE_BATCH = 500;

/** Public ids: a prefix and 16 random bytes, unique without coordination. */
export const newId = (prefix: string) => `${prefix}_${randomBytes(16).toString('hex')}`;

export function swarmNotFound(id: string): DomainError {
  return notFound(`Swarm ${id} not found`);
}

export function memberNotFound(id: string): DomainError {
  return notFound(`Swarm member ${id} not found`);
}

/** When silence makes a member suspect, and failed, counted from `now`. */
export function deadlines(swarm: Pick<SwarmRow, 'suspectAfterSeconds' | 'failAfterSeconds'>, now: Date) {
  return { lastHeartbeatAt: now, suspectAt: later(now, swarm.suspectAfterSeconds), failAt: later(now, swarm.failAfterSeconds) };
}

/**
 * The key of the swarm a join without swarm_id lands in: one per owner and
 * capability. Region is a member's attribute, not a swarm's, so members of
 * one capability in several regions share a swarm and a coordinate can pick
 * from all of them (or filter on `parameters.region`). Owner ids and
 * capabilities hold no quote or backslash, so the migration that merged the
 * per-region swarms builds the same string in SQL.
 */
export const openKey = (ownerId: string, capability: string) => JSON.stringify([ownerId, capability]);

/**
 * The caller's swarm for this capability, created when there is
 * none. The open key is unique, so of two joins creating it at once one
 * inserts and the other finds the row the first one made.
 */
export async function openSwarm(tx: PrismaTx, ownerId: string, capability: string): Promise<SwarmRow> {
  const key = openKey(ownerId, capability);
  const existing = await tx.swarm.findUnique({ where: { openKey: key } });
  if (existing) return existing;
  try {
    return await tx.swarm.create({ data: { id: newId('swarm'), ownerId, capability, openKey: key } });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    return tx.swarm.findUniqueOrThrow({ where: { openKey: key } });
  }
}

/** The row of a member joining `swarm` now. */
export function memberRow(swarm: SwarmRow, ownerId: string, input: JoinRequest, now: Date) {
  return {
    id: randomUUID(),
    swarmId: swarm.id,
    memberId: newId('member'),
    role: input.role,
    capability: input.capability,
    region: input.region ?? null,
    priority: input.priority ?? 'normal',
    host: input.host ?? null,
    status: 'active',
    ownerId,
    reputation: 0.5,
    createdAt: now,
    updatedAt: now,
    leftAt: null,
    ...deadlines(swarm, now),
  };
}

/**
 * One join: find (or create) the swarm outside a transaction, since creating
 * the open swarm may lose a race to another join and then joins that one;
 * then add the member and count it in one transaction.
 */
export async function joinSwarm(db: Database, ownerId: string, input: JoinRequest, now: Date): Promise<JoinView> {
  const found = await db.run((tx) =>
    input.swarm_id ? tx.swarm.findFirst({ where: { id: input.swarm_id, ownerId } }) : openSwarm(tx, ownerId, input.capability),
  );
  if (!found) throw swarmNotFound(input.swarm_id ?? '');
  return db.transaction(async (tx) => {
    let swarm = found;
    if (input.suspect_after_seconds !== undefined || input.fail_after_seconds !== undefined) {
      const suspectAfter = input.suspect_after_seconds ?? swarm.suspectAfterSeconds;
      const failAfter = input.fail_after_seconds ?? swarm.failAfterSeconds;
      if (failAfter < suspectAfter) {
        throw invalid(`fail_after_seconds (${failAfter}) must be at least suspect_after_seconds (${suspectAfter})`);
      }
      swarm = await tx.swarm.update({ where: { id: swarm.id }, data: { suspectAfterSeconds: suspectAfter, failAfterSeconds: failAfter } });
    }
    const member = await tx.swarmMember.create({ data: memberRow(swarm, ownerId, input, now) });
    await membersMoved(tx, swarm.id, null, 'active', 1);
    return toMemberView(member, now);
  });
}

/**
 * Leave: one member, or every one of the caller's members in the swarm. Their
 * open work moves to other members. Leaving again is a 409 (the members
 * already left) or a 404 (no such swarm or member of the caller's).
 */
export async function leaveSwarm(
  tx: Tx,
  work: WorkEngine,
  ownerId: string,
  input: { swarm_id: string; member_id?: string | undefined },
  now: Date,
): Promise<LeaveView> {
  const swarm = await tx.swarm.findFirst({ where: { id: input.swarm_id, ownerId } });
  if (!swarm) throw swarmNotFound(input.swarm_id);
  await lockSwarm(tx, swarm.id);
  const members = await tx.swarmMember.findMany({
    where: { swarmId: swarm.id, ownerId, ...(input.member_id ? { memberId: input.member_id } : {}) },
    orderBy: { createdAt: 'asc' },
  });
  if (members.length === 0) {
    throw input.member_id ? notFound(`Swarm member ${input.member_id} not found in swarm ${swarm.id}`) : swarmNotFound(swarm.id);
  }
  const leaving = members.filter((m) => m.status !== 'left');
  if (leaving.length === 0) {
    const who = input.member_id ? `Swarm member ${input.member_id} has` : `Every one of your members in swarm ${swarm.id} has`;
    throw conflict(`${who} already left`);
  }
  // Lock order (see work/leases.ts): the members, then their tasks and subtasks, then the counters.
  const moved: [string, number][] = [];
  for (const status of PRESENT) {
    const ids = leaving.filter((m) => m.status === status).map((m) => m.id);
    if (ids.length === 0) continue;
    const updated = await tx.swarmMember.updateMany({ where: { id: { in: ids }, status }, data: { status: 'left', leftAt: now } });
    moved.push([status, updated.count]);
  }
  let requeued = 0;
  for (const m of leaving) requeued += await work.releaseAllOf(tx, m.memberId, 'cancelled', `member ${m.memberId} left the swarm`, now);
  for (const [status, count] of moved) await membersMoved(tx, swarm.id, status as MemberStatus, 'left', count);
  return {
    swarm_id: swarm.id,
    member_id: leaving[0]!.memberId,
    left_at: now.toISOString(),
    status: 'left',
    members: leaving.map((m) => m.memberId),
    requeued_subtasks: requeued,
  };
}

/**
 * The failure detector (Serf/Consul-style, without gossip): a member silent
 * past its suspect time becomes `suspect`, past its fail time `failed`; a
 * failed member gets no new work, and what it held moves to other members.
 * Any sign of life makes it active again.
 */
export async function detectMemberFailures(db: Database, work: WorkEngine, now: Date): Promise<{ suspected: number; failed: number }> {
  // Per swarm, so each swarm's member counts move with the members.
  const silent = await db.run((tx) =>
    tx.swarmMember.groupBy({ by: ['swarmId', 'ownerId'], where: { status: 'active', suspectAt: { lt: now } }, _count: { _all: true } }),
  );
  // Each swarm whose members moved: its owner's live views refresh it.
  const announce = (tx: Tx, ownerId: string, swarmId: string) =>
    tx.afterCommit(() => work.announce({ owner_id: ownerId, swarm_id: swarmId }));
  let suspected = 0;
  for (const { swarmId, ownerId } of silent) {
    suspected += await db.transaction(async (tx) => {
      await lockSwarm(tx, swarmId);
      const moved = await tx.swarmMember.updateMany({
        where: { swarmId, status: 'active', suspectAt: { lt: now } },
        data: { status: 'suspect' },
      });
      await membersMoved(tx, swarmId, 'active', 'suspect', moved.count);
      if (moved.count > 0) announce(tx, ownerId, swarmId);
      return moved.count;
    });
  }
  const failing = await db.run((tx) =>
    tx.swarmMember.findMany({
      where: { status: { in: ['active', 'suspect'] }, failAt: { lt: now } },
      take: FAILURE_BATCH,
      select: { id: true, memberId: true, swarmId: true, status: true, ownerId: true },
    }),
  );
  let failed = 0;
  for (const m of failing) {
    const marked = await db.transaction(async (tx) => {
      await lockSwarm(tx, m.swarmId);
      const moved = await tx.swarmMember.updateMany({
        where: { id: m.id, status: m.status, failAt: { lt: now } },
        data: { status: 'failed' },
      });
      if (moved.count === 0) return false;
      await work.releaseAllOf(tx, m.memberId, 'expired', `member ${m.memberId} failed (no heartbeat)`, now);
      await membersMoved(tx, m.swarmId, m.status as MemberStatus, 'failed', 1);
      announce(tx, m.ownerId, m.swarmId);
      return true;
    });
    if (marked) failed++;
  }
  return { suspected, failed };
}

/** What a selection filters on; absent fields do not filter. */
export interface CandidateFilter {
  capability?: string | undefined;
  region?: string | undefined;
  role?: string | undefined;
}

/**
 * The caller's members a selection looks at (in one swarm, or all): those
 * matching the filter, the `window` with the best reputation among the
 * active ones (selection ranks them further by priority and load), plus up
 * to `window` suspect or failed ones, which only count toward the reason
 * when too few qualify. Bounded, so a coordinate costs the same in a swarm
 * of ten members or ten thousand. A quarantined member (README
 * "Verification") is not a candidate.
 */
export async function memberCandidates(
  db: Sql,
  ownerId: string,
  swarmId: string | undefined,
  filter: CandidateFilter,
  window: number,
  now: Date = new Date(),
): Promise<MemberCandidate[]> {
  const where = join(
    [
      sql`"owner_id" = ${ownerId}`,
      ...(swarmId ? [sql`"swarm_id" = ${swarmId}`] : []),
      ...(filter.capability ? [sql`"capability" = ${filter.capability}`] : []),
      ...(filter.region ? [sql`"region" = ${filter.region}`] : []),
      ...(filter.role ? [sql`"role" = ${filter.role}`] : []),
    ],
    ' AND ',
  );
  const [active, down] = await Promise.all([
    db.all(
      sql`SELECT * FROM "swarm_members" m WHERE ${where} AND "status" = 'active'
        AND NOT EXISTS (SELECT 1 FROM "validation_records" v WHERE v."id" = m."member_id" AND v."quarantined_until" > ${now})
        ORDER BY "reputation" DESC, "member_id" LIMIT ${raw(String(window))}`,
    ),
    db.all(sql`SELECT * FROM "swarm_members" WHERE ${where} AND "status" IN ('suspect', 'failed') LIMIT ${raw(String(window))}`),
  ]);
  const members = [...active, ...down].map(memberFrom);
  const load = await openLoad(
    db,
    active.map((m) => m.member_id as string),
  );
  return members.map((m) => toCandidate(m, load.get(m.memberId) ?? 0));
}

/** How many candidates a selection of `collaborators` looks at. */
export const candidateWindow = (collaborators: number) => Math.max(64, 4 * collaborators);

export const isPresent = (status: string): status is Exclude<MemberStatus, 'left'> => PRESENT.includes(status);

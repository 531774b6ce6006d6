/**
 * The owner's hosts as views show them (README "Verification"): each
 * agent's or member's validation record, trust and quarantine, and lifting a
 * quarantine.
 */
import { type HostListQuery, type HostView, isQuarantined } from '@aitbc/core';
import { type Actor, audit } from '../audit/log.ts';
import type { PrismaTx } from '../db/client.ts';
import type { Tx } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import { conflict, notFound } from '../errors.ts';
import { listPage } from '../pagination.ts';
import { type RecordRow, recordFrom } from './records.ts';

type RecordModel = NonNullable<Awaited<ReturnType<PrismaTx['validationRecord']['findFirst']>>>;

/** Names, host labels and (members') reputations of these hosts. */
async function hostDetails(db: PrismaTx, records: RecordModel[]) {
  const agents = records.filter((r) => r.kind === 'agent').map((r) => r.id);
  const members = records.filter((r) => r.kind === 'member').map((r) => r.id);
  const [a, m] = await Promise.all([
    agents.length ? db.agent.findMany({ where: { id: { in: agents } }, select: { id: true, name: true, host: true } }) : [],
    members.length
      ? db.swarmMember.findMany({ where: { memberId: { in: members } }, select: { memberId: true, host: true, reputation: true } })
      : [],
  ]);
  return {
    agents: new Map(a.map((x) => [x.id, x])),
    members: new Map(m.map((x) => [x.memberId, x])),
  };
}

/**
 * A host's view. `trusted` is judged with the trust_after its record was last checked under (the record's flag),
 * and is false while it is quarantined.
 */
export function toHostView(r: RecordModel | RecordRow, details: Awaited<ReturnType<typeof hostDetails>>, now: Date): HostView {
  const agent = details.agents.get(r.id);
  const member = details.members.get(r.id);
  const quarantined = isQuarantined(r, now);
  return {
    host_id: r.id,
    kind: r.kind as HostView['kind'],
    name: agent?.name ?? null,
    host: agent?.host ?? member?.host ?? null,
    trusted: r.trusted && !quarantined,
    valid_streak: r.validStreak,
    valid: r.valid,
    invalid: r.invalid,
    recent: r.recent,
    reputation: member?.reputation ?? r.reputation,
    quarantined,
    quarantined_at: quarantined ? (r.quarantinedAt?.toISOString() ?? null) : null,
    quarantined_until: quarantined ? (r.quarantinedUntil?.toISOString() ?? null) : null,
    quarantines: r.quarantines,
    probation_until: r.probationUntil && r.probationUntil > now ? r.probationUntil.toISOString() : null,
    updated_at: r.updatedAt.toISOString(),
  };
}

/** The owner's hosts that have a validation record, newest first; `quarantined` filters on being quarantined now. */
export async function listHosts(db: PrismaTx, ownerId: string, input: HostListQuery & { limit: number }, now: Date) {
  const scope = {
    ownerId,
    ...(input.quarantined === true ? { quarantinedUntil: { gt: now } } : {}),
    ...(input.quarantined === false ? { OR: [{ quarantinedUntil: null }, { quarantinedUntil: { lte: now } }] } : {}),
  };
  const { items, ...page } = await listPage(
    input,
    ({ where, ...rest }) => db.validationRecord.findMany({ where: { AND: [scope, where] }, ...rest }),
    () => db.validationRecord.count({ where: scope }),
  );
  const details = await hostDetails(db, items);
  return { hosts: items.map((r) => toHostView(r, details, now)), ...page };
}

/**
 * An owner lifts a host's quarantine before its cool-down passes: it gets work again, untrusted (its streak was
 * reset when it was quarantined), and the audit log says who lifted it. 404 for a host that is not the owner's
 * (or has no record); 409 for one not quarantined now.
 */
export async function liftQuarantine(tx: Tx, actor: Actor, ownerId: string, hostId: string, now: Date): Promise<HostView> {
  const row = await tx.sql.one(sql`SELECT * FROM "validation_records" WHERE "id" = ${hostId} AND "owner_id" = ${ownerId}`);
  if (!row) {
    const yours = await tx.sql.one(sql`
      SELECT 1 FROM "agents" WHERE "id" = ${hostId} AND "owner_id" = ${ownerId}
      UNION ALL SELECT 1 FROM "swarm_members" WHERE "member_id" = ${hostId} AND "owner_id" = ${ownerId}`);
    if (!yours) throw notFound(`Host ${hostId} not found`);
    throw conflict(`Host ${hostId} is not quarantined`);
  }
  const record = recordFrom(row);
  if (!isQuarantined(record, now)) throw conflict(`Host ${hostId} is not quarantined`);
  await tx.sql.run(sql`UPDATE "validation_records" SET "quarantined_until" = ${now}, "updated_at" = ${now} WHERE "id" = ${hostId}`);
  await audit(tx, actor, {
    action: 'host.lift',
    owner_id: ownerId,
    target_id: hostId,
    detail: { kind: record.kind, quarantined_until: record.quarantinedUntil?.toISOString() ?? null },
  });
  const details = await hostDetails(tx, [{ ...record, quarantinedUntil: now, updatedAt: now } as RecordModel]);
  return toHostView({ ...record, quarantinedUntil: now, updatedAt: now }, details, now);
}

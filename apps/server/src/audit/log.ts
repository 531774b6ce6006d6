import type { AuditAction, AuditEntry } from '@aitbc/core';
import type { PrismaTx } from '../db/client.ts';

/** Who made a change, and from where: the key, its owner, the address and the request. */
export interface Actor {
  owner_id: string;
  key_id: string | null;
  ip: string | null;
  request_id: string | null;
}

/** The server itself (a quarantine verification imposed): no key, address or request. */
export const SERVER_ACTOR: Actor = { owner_id: 'server', key_id: null, ip: null, request_id: null };

export interface AuditRecord {
  action: AuditAction;
  /** Whose record changed. */
  owner_id: string;
  target_id: string;
  detail?: Record<string, unknown>;
}

/**
 * Record a change in the audit log. Called with the transaction that makes
 * the change, so the entry and the change land together or not at all.
 */
export async function audit(tx: PrismaTx, actor: Actor, record: AuditRecord): Promise<void> {
  await tx.auditEvent.create({
    data: {
      action: record.action,
      ownerId: record.owner_id,
      targetId: record.target_id,
      actorOwnerId: actor.owner_id,
      actorKeyId: actor.key_id,
      ip: actor.ip,
      requestId: actor.request_id,
      detail: record.detail ? JSON.stringify(record.detail) : null,
    },
  });
}

type AuditRow = NonNullable<Awaited<ReturnType<PrismaTx['auditEvent']['findFirst']>>>;

export function toAuditEntry(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: row.createdAt.toISOString(),
    action: row.action as AuditAction,
    owner_id: row.ownerId,
    target_id: row.targetId,
    actor_owner_id: row.actorOwnerId,
    actor_key_id: row.actorKeyId,
    ip: row.ip,
    request_id: row.requestId,
    detail: row.detail === null ? null : (JSON.parse(row.detail) as Record<string, unknown>),
  };
}

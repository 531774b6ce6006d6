import { z } from 'zod';
import { Id, Idempotent, IsoDateTime, NextCursor, PageQuery, QueryBoolean } from './common.ts';

/**
 * What a key may do, least to most (SECURITY.md):
 * - `worker`: the work protocol (claims, lease heartbeats, results, failures)
 *   and member heartbeats, for the agents and members it names. A list it
 *   does not name is empty: "all of the owner's" is asked for explicitly
 *   (`"all"`), list by list;
 * - `read`: every read of its owner's records, and nothing else;
 * - `owner`: everything its owner may do, including issuing narrower keys;
 * - `admin`: everything, for every owner.
 */
export const KEY_SCOPES = ['worker', 'read', 'owner', 'admin'] as const;
export const KeyScope = z.enum(KEY_SCOPES);
export type KeyScope = z.infer<typeof KeyScope>;

/**
 * What a procedure needs. `any` is every key (who am I); the rest name the
 * narrowest scope that reaches it. `owner` and `admin` keys reach `worker`
 * and `read` procedures too.
 */
export const PROCEDURE_SCOPES = ['any', 'worker', 'read', 'owner', 'admin'] as const;
export type ProcedureScope = (typeof PROCEDURE_SCOPES)[number];

/** Whether a key of `scope` may call a procedure that needs `needs`. */
export function scopeAllows(scope: KeyScope, needs: ProcedureScope): boolean {
  if (needs === 'any' || scope === 'admin' || scope === needs) return true;
  return scope === 'owner' && (needs === 'worker' || needs === 'read');
}

/** An owner is whoever a key acts for: rows a key creates carry this id. */
export const OwnerId = z
  .string()
  .trim()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'an owner id is letters, digits, ".", "_", "@" or "-"');

/** Longest lifetime a key may be given: five years. */
export const MAX_KEY_SECONDS = 5 * 365 * 86_400;
/** How long a rotated key keeps working unless told otherwise: 24 hours. */
export const DEFAULT_ROTATION_GRACE_SECONDS = 86_400;

const NamedIds = z.array(Id).min(1).max(1000);

/** The value a worker key's list takes for "every one of its owner's": asked for explicitly, never a default. */
export const ALL_OF_OWNER = 'all';

/** A worker key's agents or members as asked for: ids, or "all" of its owner's. */
const NamedList = (kind: 'agent' | 'member') =>
  z
    .union([NamedIds, z.literal(ALL_OF_OWNER)])
    .optional()
    .describe(`worker keys only: the ${kind} ids it may work for, or "all" for every one of its owner's (now and later); not given: none`);

export const KeyCreate = z
  .object({
    owner_id: OwnerId.optional().describe('whom the key acts for; an owner key may only issue keys for its own owner (the default)'),
    scope: KeyScope.optional().describe('what the key may do (default owner); never more than the key issuing it'),
    role: KeyScope.optional().describe('the older name of `scope`, still accepted'),
    agents: NamedList('agent'),
    members: NamedList('member'),
    expires_in_seconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_KEY_SECONDS)
      .optional()
      .describe('the key stops working this long after it is issued'),
    label: z.string().trim().max(200).optional(),
    ...Idempotent,
  })
  .refine((k) => !(k.scope && k.role && k.scope !== k.role), { message: 'scope and role name the same thing; give one', path: ['role'] })
  .refine((k) => (k.scope ?? k.role ?? 'owner') === 'worker' || (k.agents === undefined && k.members === undefined), {
    message: 'only worker keys name agents and members',
    path: ['agents'],
  })
  .refine((k) => (k.scope ?? k.role ?? 'owner') !== 'worker' || k.agents !== undefined || k.members !== undefined, {
    message: 'a worker key names what it works for: agents and/or members (ids, or "all" of its owner\'s); a list not named is none',
    path: ['agents'],
  });
export type KeyCreate = z.input<typeof KeyCreate>;

export const KeyView = z.object({
  id: z.string(),
  owner_id: z.string(),
  scope: KeyScope,
  role: KeyScope.describe('the older name of `scope`'),
  agents: z.array(z.string()).nullable().describe('worker keys: the agent ids it may work for (empty: none); null is all of its owner’s'),
  members: z.array(z.string()).nullable().describe('worker keys: the member ids it may work for (empty: none); null is all of its owner’s'),
  prefix: z.string().describe('first characters of the key, to recognise it'),
  label: z.string().nullable(),
  created_at: IsoDateTime,
  expires_at: IsoDateTime.nullable().describe('when the key stops working; null never'),
  revoked_at: IsoDateTime.nullable(),
  last_used_at: IsoDateTime.nullable().describe('last request made with it, to within a minute'),
  replaced_by: z.string().nullable().describe('the key that replaced it when it was rotated'),
});
export type KeyView = z.infer<typeof KeyView>;

export const KeyCreated = KeyView.extend({
  key: z.string().describe('the API key itself; shown once, store it now'),
});
export type KeyCreated = z.infer<typeof KeyCreated>;

export const KeyIdParam = z.object({ key_id: Id });

export const KeyRotate = z.object({
  key_id: Id,
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 86_400)
    .default(DEFAULT_ROTATION_GRACE_SECONDS)
    .describe('how long the old key keeps working (default 24 h; 0 stops it now)'),
});
export type KeyRotate = z.input<typeof KeyRotate>;

export const KeyRotated = z.object({
  key: KeyCreated.describe('the replacement: same owner, scope, agents, members and label'),
  previous: KeyView.describe('the old key, now expiring at the end of the grace period'),
});

export const KeyListQuery = PageQuery.extend({
  owner_id: OwnerId.optional().describe('admin only: one owner’s keys'),
  include_revoked: QueryBoolean.optional(),
});

export const KeyList = z.object({ keys: z.array(KeyView), next_cursor: NextCursor });

export const Principal = z.object({
  owner_id: z.string(),
  scope: KeyScope,
  role: KeyScope.describe('the older name of `scope`'),
  key_id: z.string().nullable().describe('null for keys configured through AITBC_ADMIN_API_KEYS'),
  agents: z.array(z.string()).nullable().describe('worker keys: the agent ids it may work for (empty: none); null is all of its owner’s'),
  members: z.array(z.string()).nullable().describe('worker keys: the member ids it may work for (empty: none); null is all of its owner’s'),
  expires_at: IsoDateTime.nullable(),
});
export type Principal = z.infer<typeof Principal>;

/** whoami: the principal, and the names of the agents a worker key names (so a worker can be started by agent name). */
export const WhoAmI = Principal.extend({
  agent_names: z
    .record(z.string(), z.string())
    .nullable()
    .describe('worker keys that name agents: each named agent’s id → its name (null otherwise)'),
});
export type WhoAmI = z.infer<typeof WhoAmI>;

/**
 * A worker key's list as stored: the ids (deduplicated), or null for "all" of its owner's. A list the key was
 * not given is empty: naming agents only never reaches members, nor the other way round.
 */
export function storedList(asked: readonly string[] | typeof ALL_OF_OWNER | undefined): string[] | null {
  if (asked === ALL_OF_OWNER) return null;
  return [...new Set(asked ?? [])];
}

/** Whether a principal may act as this agent or member (its owner's, checked elsewhere). */
export function actsFor(
  principal: Pick<Principal, 'scope' | 'agents' | 'members'>,
  who: { kind: 'agent' | 'member'; id: string },
): boolean {
  if (principal.scope !== 'worker') return true;
  const named = who.kind === 'agent' ? principal.agents : principal.members;
  return named === null || named.includes(who.id);
}

/** What the audit log records: a change that removes, stops or grants something. */
export const AUDIT_ACTIONS = [
  'key.create',
  'key.rotate',
  'key.revoke',
  'agent.remove',
  'network.archive',
  'execution.cancel',
  'execution.redrive',
  'swarm.leave',
  'task.cancel',
  'host.quarantine',
  'host.lift',
] as const;
export const AuditAction = z.enum(AUDIT_ACTIONS);
export type AuditAction = z.infer<typeof AuditAction>;

export const AuditEntry = z.object({
  id: z.string(),
  at: IsoDateTime,
  action: AuditAction,
  owner_id: z.string().describe('whose record it changed'),
  target_id: z.string().describe('the key, agent, network, execution, member or task it changed'),
  actor_owner_id: z.string().describe('who did it (`server`: the server itself, e.g. a quarantine)'),
  actor_key_id: z.string().nullable().describe('with which key (null: a key from AITBC_ADMIN_API_KEYS)'),
  ip: z.string().nullable(),
  request_id: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditQuery = PageQuery.extend({
  owner_id: OwnerId.optional().describe('admin only: one owner’s entries'),
  action: AuditAction.optional(),
  target_id: Id.optional(),
});

export const AuditList = z.object({ entries: z.array(AuditEntry), next_cursor: NextCursor });

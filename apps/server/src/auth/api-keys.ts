import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyScope, Principal } from '@aitbc/core';
import type { Database } from '../db/database.ts';

const KEY_PREFIX = 'aitbc_';

export interface IssuedKey {
  key: string;
  prefix: string;
  hash: string;
}

/** 32 random bytes: a key is a bearer secret, so it carries its own entropy and is stored only as a hash. */
export function issueKey(): IssuedKey {
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, prefix: key.slice(0, KEY_PREFIX.length + 6), hash: hashKey(key) };
}

/** SHA-256 suffices for high-entropy random keys (no dictionary to guess from), and keeps lookup O(1). */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export const ADMIN_OWNER_ID = 'admin';
/** Most keys the principal cache holds. */
const CACHE_ENTRIES = 10_000;

/** A presented key's answer: who it acts for, or why it is refused (the 401's message). */
export type Authentication = { principal: Principal; refused?: never } | { principal?: never; refused: string };

type KeyRow = {
  id: string;
  ownerId: string;
  role: string;
  agentIds: string | null;
  memberIds: string | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  replacedBy: string | null;
};

/** The principal a stored key acts for (whether it still works is `refusal`'s to say). */
export function principalOf(row: KeyRow): Principal {
  const scope = row.role as KeyScope;
  return {
    owner_id: row.ownerId,
    scope,
    role: scope,
    key_id: row.id,
    agents: row.agentIds === null ? null : (JSON.parse(row.agentIds) as string[]),
    members: row.memberIds === null ? null : (JSON.parse(row.memberIds) as string[]),
    expires_at: row.expiresAt?.toISOString() ?? null,
  };
}

/** Why a stored key does not work at `now`, or null when it does. */
function refusal(row: Pick<KeyRow, 'expiresAt' | 'revokedAt' | 'replacedBy'>, now: number): string | null {
  if (row.revokedAt) return 'Unknown or revoked API key';
  if (row.expiresAt && row.expiresAt.getTime() <= now) {
    const rotated = row.replacedBy ? ` (it was rotated; use its replacement, key ${row.replacedBy})` : '';
    return `API key expired at ${row.expiresAt.toISOString()}${rotated}`;
  }
  return null;
}

/**
 * Turns a presented X-Api-Key into the principal it acts for, or the reason
 * it is refused. Keys from AITBC_ADMIN_API_KEYS are admins of owner `admin`;
 * the rest live (hashed) in the api_keys table and stop working the moment
 * they are revoked or expire.
 */
export class ApiKeyAuthenticator {
  private readonly configuredAdminHashes: string[];
  /**
   * Keys recently looked up, by key hash: every request presents a key, and a
   * database read for each one was the largest fixed cost of a request. An
   * entry lives `cacheMs`; a revocation or rotation on this instance forgets
   * it at once, and other instances hear of it through `forget` too (see
   * events). Expiry is checked on every use, cached or not.
   */
  private readonly cache = new Map<string, { row: KeyRow | null; principal: Principal | null; until: number }>();
  /** Keys used since the last flush: last_used_at is written once per `usageFlushMs`, not per request. */
  private readonly used = new Set<string>();
  private readonly flushTimer: NodeJS.Timeout | null;

  constructor(
    private readonly db: Database,
    configuredAdminKeys: readonly string[],
    private readonly cacheMs = 2000,
    usageFlushMs = 60_000,
  ) {
    this.configuredAdminHashes = configuredAdminKeys.map(hashKey);
    this.flushTimer = usageFlushMs > 0 ? setInterval(() => void this.flushUsage().catch(() => {}), usageFlushMs).unref() : null;
  }

  /** Bumped by every `forget`: a lookup that overlapped one does not cache what it read. */
  private generation = 0;

  /** Drop a key (by its id) from the cache: it was revoked or rotated. */
  forget(keyId: string): void {
    this.generation++;
    for (const [hash, entry] of this.cache) if (entry.row?.id === keyId) this.cache.delete(hash);
  }

  /** Drop every cached key: revocations may have been missed (the event bus listened again). */
  forgetAll(): void {
    this.generation++;
    this.cache.clear();
  }

  async authenticate(presented: string | undefined): Promise<Authentication> {
    const key = presented?.trim();
    if (!key) return { refused: presented === undefined ? 'Missing API key' : 'Empty API key' };
    const hash = hashKey(key);
    // Compare against every configured key, so timing does not reveal which matched.
    let configured = false;
    for (const admin of this.configuredAdminHashes) configured = sameHash(admin, hash) || configured;
    if (configured) {
      return {
        principal: { owner_id: ADMIN_OWNER_ID, scope: 'admin', role: 'admin', key_id: null, agents: null, members: null, expires_at: null },
      };
    }

    const now = Date.now();
    let entry = this.cache.get(hash);
    if (!entry || entry.until <= now) {
      const generation = this.generation;
      const found = await this.db.run((db) =>
        db.apiKey.findUnique({
          where: { keyHash: hash },
          select: {
            id: true,
            ownerId: true,
            role: true,
            keyHash: true,
            agentIds: true,
            memberIds: true,
            expiresAt: true,
            revokedAt: true,
            replacedBy: true,
          },
        }),
      );
      const row = found && sameHash(found.keyHash, hash) ? found : null;
      // The principal is made once per lookup, not per request (a worker key's lists are parsed here).
      entry = { row, principal: row ? principalOf(row) : null, until: now + this.cacheMs };
      // Bounded: a flood of made-up keys empties the cache rather than growing it.
      if (this.cache.size >= CACHE_ENTRIES) this.cache.clear();
      if (this.cacheMs > 0 && generation === this.generation) this.cache.set(hash, entry);
    }
    const { row, principal } = entry;
    if (!row || !principal) return { refused: 'Unknown or revoked API key' };
    const refused = refusal(row, now);
    if (refused) return { refused };
    this.used.add(row.id);
    return { principal };
  }

  /** Write last_used_at for the keys used since the last flush: one statement for all of them. */
  async flushUsage(): Promise<void> {
    if (this.used.size === 0) return;
    const ids = [...this.used];
    this.used.clear();
    const now = new Date();
    for (let i = 0; i < ids.length; i += 500) {
      const some = ids.slice(i, i + 500);
      await this.db.run((db) => db.apiKey.updateMany({ where: { id: { in: some } }, data: { lastUsedAt: now } }));
    }
  }

  /** Stop the flush timer, writing what is pending. */
  async close(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.flushUsage().catch(() => {});
  }
}

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyRole, Principal } from '@aitbc/core';
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

/**
 * Turns a presented X-Api-Key into the principal it acts for, or null.
 * Keys from AITBC_ADMIN_API_KEYS are admins of owner `admin`; the rest live
 * (hashed) in the api_keys table and stop working the moment they are revoked.
 */
export class ApiKeyAuthenticator {
  private readonly configuredAdminHashes: string[];
  /**
   * Principals recently looked up, by key hash: every request presents a key,
   * and a database read for each one was the largest fixed cost of a request.
   * An entry lives `cacheMs`; a revocation on this instance forgets it at
   * once, and other instances hear of it through `forget` too (see events).
   */
  private readonly cache = new Map<string, { principal: Principal | null; until: number }>();

  constructor(
    private readonly db: Database,
    configuredAdminKeys: readonly string[],
    private readonly cacheMs = 2000,
  ) {
    this.configuredAdminHashes = configuredAdminKeys.map(hashKey);
  }

  /** Bumped by every `forget`: a lookup that overlapped one does not cache what it read. */
  private generation = 0;

  /** Drop a key (by its id) from the cache: it was revoked. */
  forget(keyId: string): void {
    this.generation++;
    for (const [hash, entry] of this.cache) if (entry.principal?.key_id === keyId) this.cache.delete(hash);
  }

  async authenticate(presented: string | undefined): Promise<Principal | null> {
    const key = presented?.trim();
    if (!key) return null;
    const hash = hashKey(key);
    // Compare against every configured key, so timing does not reveal which matched.
    let configured = false;
    for (const admin of this.configuredAdminHashes) configured = sameHash(admin, hash) || configured;
    if (configured) return { owner_id: ADMIN_OWNER_ID, role: 'admin', key_id: null };

    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.principal;
    const generation = this.generation;
    const row = await this.db.run((db) =>
      db.apiKey.findUnique({ where: { keyHash: hash }, select: { id: true, ownerId: true, role: true, keyHash: true, revokedAt: true } }),
    );
    const principal: Principal | null =
      !row || row.revokedAt || !sameHash(row.keyHash, hash) ? null : { owner_id: row.ownerId, role: row.role as KeyRole, key_id: row.id };
    // Bounded: a flood of made-up keys empties the cache rather than growing it.
    if (this.cache.size >= CACHE_ENTRIES) this.cache.clear();
    if (this.cacheMs > 0 && generation === this.generation) this.cache.set(hash, { principal, until: now + this.cacheMs });
    return principal;
  }
}

export const HOW_TO_SET_A_KEY =
  'Send your API key in the X-Api-Key header. With the aitbc CLI: --api-key KEY, the AITBC_API_KEY environment variable, ' +
  'or api_key in ~/.aitbc/config.yaml. An admin issues keys with `aitbc keys create --owner NAME`; ' +
  'on the embedded default the first admin key is in ./data/admin.key.';

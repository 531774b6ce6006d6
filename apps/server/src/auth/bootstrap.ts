import { existsSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from '../db/database.ts';
import { ADMIN_OWNER_ID, issueKey } from './api-keys.ts';

export type AdminKeyBootstrap =
  | { kind: 'configured' } // AITBC_ADMIN_API_KEYS is set
  | { kind: 'created'; key: string; file: string } // first start: show it once
  | { kind: 'existing'; file: string | null } // an admin key is already stored
  | { kind: 'none' }; // PostgreSQL without configured admin keys

/**
 * On the embedded default with no admin key configured, the first start
 * creates one admin key, stores its hash, and writes the key to
 * DATA_DIR/admin.key (mode 0600). Later starts find it and say where it is.
 */
export async function bootstrapAdminKey(db: Database, options: { dataDir: string; configuredAdmins: boolean }): Promise<AdminKeyBootstrap> {
  if (options.configuredAdmins) return { kind: 'configured' };
  const file = join(options.dataDir, 'admin.key');
  const existing = await db.run((q) => q.apiKey.count({ where: { role: 'admin', revokedAt: null } }));
  if (existing > 0) return { kind: 'existing', file: existsSync(file) ? file : null };
  if (db.provider !== 'sqlite') return { kind: 'none' };

  const issued = issueKey();
  await db.run((q) =>
    q.apiKey.create({
      data: {
        ownerId: ADMIN_OWNER_ID,
        role: 'admin',
        prefix: issued.prefix,
        keyHash: issued.hash,
        label: 'bootstrap admin key',
        createdBy: 'server',
      },
    }),
  );
  writeFileSync(file, issued.key + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return { kind: 'created', key: issued.key, file };
}

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
 * What each database's server did about its admin key, for the 401 and 403
 * messages (adminKeyHint): the key's real path, not the default's. Keyed by
 * the database handle the server was started with, so servers in one process
 * (the tests) each answer with their own.
 */
const bootstrapped = new WeakMap<Database, AdminKeyBootstrap>();

/**
 * On the embedded default with no admin key configured, the first start
 * creates one admin key, stores its hash, and writes the key to
 * DATA_DIR/admin.key (mode 0600). Later starts find it and say where it is.
 */
export async function bootstrapAdminKey(db: Database, options: { dataDir: string; configuredAdmins: boolean }): Promise<AdminKeyBootstrap> {
  const result = await bootstrap(db, options);
  bootstrapped.set(db, result);
  return result;
}

async function bootstrap(db: Database, options: { dataDir: string; configuredAdmins: boolean }): Promise<AdminKeyBootstrap> {
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

/** Where this server's first admin key is, in words: its file when the server generated one, else how admin keys are set. */
export function adminKeyHint(db: Database): string {
  const a = bootstrapped.get(db);
  if ((a?.kind === 'created' || a?.kind === 'existing') && a.file) return `the first admin key is in ${a.file}`;
  if (a?.kind === 'existing')
    return 'the first admin key was generated earlier (its file is gone: revoke it and configure AITBC_ADMIN_API_KEYS)';
  return 'admin keys are set with AITBC_ADMIN_API_KEYS';
}

/** The 401's advice: how to send a key, and where the first admin key is. */
export function howToSetAKey(db: Database): string {
  return (
    'Send your API key in the X-Api-Key header. With the aitbc CLI: --api-key KEY, the AITBC_API_KEY environment variable, ' +
    `or api_key in ~/.aitbc/config.yaml. An admin issues keys with \`aitbc keys create --owner NAME\`; ${adminKeyHint(db)}.`
  );
}

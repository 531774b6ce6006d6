import { z } from 'zod';
import { Id, IsoDateTime, NextCursor, PageQuery, QueryBoolean } from './common.ts';

export const KEY_ROLES = ['admin', 'owner'] as const;
export const KeyRole = z.enum(KEY_ROLES);
export type KeyRole = z.infer<typeof KeyRole>;

/** An owner is whoever a key acts for: rows a key creates carry this id. */
export const OwnerId = z
  .string()
  .trim()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'an owner id is letters, digits, ".", "_", "@" or "-"');

export const KeyCreate = z.object({
  owner_id: OwnerId,
  role: KeyRole.default('owner'),
  label: z.string().trim().max(200).optional(),
});
export type KeyCreate = z.input<typeof KeyCreate>;

export const KeyView = z.object({
  id: z.string(),
  owner_id: z.string(),
  role: KeyRole,
  prefix: z.string().describe('first characters of the key, to recognise it'),
  label: z.string().nullable(),
  created_at: IsoDateTime,
  revoked_at: IsoDateTime.nullable(),
});
export type KeyView = z.infer<typeof KeyView>;

export const KeyCreated = KeyView.extend({
  key: z.string().describe('the API key itself; shown once, store it now'),
});
export type KeyCreated = z.infer<typeof KeyCreated>;

export const KeyIdParam = z.object({ key_id: Id });

export const KeyListQuery = PageQuery.extend({
  owner_id: OwnerId.optional(),
  include_revoked: QueryBoolean.optional(),
});

export const KeyList = z.object({ keys: z.array(KeyView), next_cursor: NextCursor });

export const Principal = z.object({
  owner_id: z.string(),
  role: KeyRole,
  key_id: z.string().nullable().describe('null for keys configured through AITBC_ADMIN_API_KEYS'),
});
export type Principal = z.infer<typeof Principal>;

import { z } from 'zod';

/** Ids are server-generated UUIDs; accept any short printable id so old ids keep working. */
export const Id = z.string().trim().min(1).max(128);

export const IsoDateTime = z.string().describe('ISO 8601 date-time (UTC)');

/** Cursor pagination shared by every list: `limit` rows after the opaque `cursor`. */
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(512).optional().describe('next_cursor from the previous page'),
});
export type PageQuery = z.infer<typeof PageQuery>;

export const NextCursor = z.string().nullable().describe('pass as `cursor` to get the next page; null on the last page');

/** A boolean that also arrives as a query-string word ("true"/"false"/"1"/"0"). */
export const QueryBoolean = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
  .transform((v) => v === true || v === 'true' || v === '1');

/** For procedures that take nothing (REST GETs still parse an object). */
export const NoInput = z.object({});

/** How long a submit's first answer is kept for repeats under its idempotency key. */
export const IDEMPOTENCY_SECONDS = 24 * 3600;

/**
 * An idempotency key: a repeat of a submit (execute, coordinate, network or
 * key create) under the same key within 24 hours gets the first answer
 * instead of running again. REST takes it as the `Idempotency-Key` header.
 */
export const IdempotencyKey = z
  .string()
  .trim()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'an idempotency key is printable ASCII without spaces')
  .describe('a repeat within 24 h under the same key gets the first answer instead of running again (REST: the Idempotency-Key header)');

/** The field every idempotent submit takes. */
export const Idempotent = { idempotency_key: IdempotencyKey.optional() };

/** The REST header every idempotent submit takes (documented in /openapi.json). */
export const IdempotentHeaders = z.object({ 'idempotency-key': IdempotencyKey.optional() });

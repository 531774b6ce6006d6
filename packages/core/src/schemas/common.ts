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

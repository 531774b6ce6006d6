import { TRPCError } from '@trpc/server';

/**
 * Keyset pagination over (created_at desc, id desc): stable under inserts and
 * deletes, and each page is one indexed range scan.
 */
interface Position {
  createdAt: Date;
  id: string;
}

export function encodeCursor(row: Position): string {
  return Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.id])).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): Position | null {
  if (!cursor) return null;
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    const createdAt = new Date(String(at));
    if (typeof id !== 'string' || Number.isNaN(createdAt.getTime())) throw new Error('bad cursor');
    return { createdAt, id };
  } catch {
    throw new TRPCError({ code: 'BAD_REQUEST', message: 'Invalid cursor: pass next_cursor from the previous page unchanged' });
  }
}

/** The `where` fragment for rows after `cursor`, and the matching order. */
export function pageAfter(cursor: string | undefined) {
  const at = decodeCursor(cursor);
  return {
    where: at ? { OR: [{ createdAt: { lt: at.createdAt } }, { createdAt: at.createdAt, id: { lt: at.id } }] } : {},
    orderBy: [{ createdAt: 'desc' as const }, { id: 'desc' as const }],
  };
}

/** Fetch limit+1 rows, return `limit` of them and the cursor for the rest. */
export function takePage<T extends Position>(rows: T[], limit: number): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? encodeCursor(last) : null };
}

/** What `listPage` hands a model's findMany: the rows after the cursor, newest first, one more than a page. */
export interface PageQuery {
  where: ReturnType<typeof pageAfter>['where'];
  orderBy: ReturnType<typeof pageAfter>['orderBy'];
  take: number;
}

/**
 * One page of a list and the total it pages through: `find` reads the rows
 * (its filter AND `page.where`), `count` counts the filter alone.
 */
export async function listPage<T extends Position>(
  input: { cursor?: string | undefined; limit: number },
  find: (page: PageQuery) => Promise<T[]>,
  count: () => Promise<number>,
): Promise<{ items: T[]; total_count: number; next_cursor: string | null }> {
  const { where, orderBy } = pageAfter(input.cursor);
  const [rows, total] = await Promise.all([find({ where, orderBy, take: input.limit + 1 }), count()]);
  return { ...takePage(rows, input.limit), total_count: total };
}

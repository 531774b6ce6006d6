import { z } from 'zod';

export const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  database: z.object({
    provider: z.enum(['sqlite', 'postgresql']),
    reachable: z.boolean(),
    /** up; unreachable (requests answer 503 until it is back); read-only (writes answer 503). */
    state: z.enum(['up', 'unreachable', 'read-only']),
    latency_ms: z.number().nullable(),
    /** While down or read-only: seconds since it stopped answering or taking writes. */
    outage_s: z.number().optional(),
    error: z.string().optional(),
  }),
  version: z.string(),
  uptime_s: z.number(),
});
export type Health = z.infer<typeof Health>;

import { z } from 'zod';

export const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  database: z.object({
    provider: z.enum(['sqlite', 'postgresql']),
    reachable: z.boolean(),
    latency_ms: z.number().nullable(),
    error: z.string().optional(),
  }),
  version: z.string(),
  uptime_s: z.number(),
});
export type Health = z.infer<typeof Health>;

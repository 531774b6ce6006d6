/**
 * Retries and attempt limits: the settings a network (and a swarm task)
 * has for what follows a failed attempt, and for how long any one attempt
 * may run. What they mean is in the README ("Retries, dead letters and
 * attempt limits").
 */
import { z } from 'zod';

export const RetrySettings = z.object({
  retry_base_seconds: z
    .number()
    .min(0)
    .max(3600)
    .describe('a failed attempt is retried after about this long, doubling with each attempt, jittered (0: at once; default 1)'),
  retry_max_seconds: z.number().min(0).max(86_400).describe('the longest wait before a retry (default 60)'),
  max_attempt_seconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .describe('the longest one attempt may run, whatever its heartbeats say; then it is ended and retried elsewhere (default 3600)'),
});
export type RetrySettings = z.infer<typeof RetrySettings>;

/**
 * Temporal's retry policy, with its backoff coefficient fixed at 2: 1 s,
 * then 2, 4, 8… up to a minute, so a host that fails fast does not burn
 * every attempt in a second. An attempt is bounded at an hour whatever its
 * heartbeats say (SQS caps a message's visibility at 12 hours,
 * graphile-worker a job's lock at 4): a worker that heartbeats but never
 * finishes cannot hold its work for ever.
 */
export const DEFAULT_RETRY_SETTINGS: RetrySettings = {
  retry_base_seconds: 1,
  retry_max_seconds: 60,
  max_attempt_seconds: 3600,
};

/**
 * How long to wait before retrying after the `attempt`-th attempt failed
 * (1 = the first): base × 2^(attempt−1), at most `max`, with "equal
 * jitter" (half of it fixed, half drawn at random), so failures that
 * happened together are not retried together. `random` is in [0, 1).
 */
export function retryDelaySeconds(
  attempt: number,
  settings: Pick<RetrySettings, 'retry_base_seconds' | 'retry_max_seconds'>,
  random: number,
): number {
  const ceiling = Math.min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + (ceiling / 2) * random;
}

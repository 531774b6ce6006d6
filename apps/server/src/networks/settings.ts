// A network's settings and the checks its create and update make: the caller's
// own agents, replication bounds, and the metrics a status asks for.
import {
  NETWORK_METRIC_NAMES,
  type NetworkMetrics,
  type VerificationInput,
  type VerificationSettings,
  verificationSettings,
} from '@aitbc/core';
import type { PrismaTx } from '../db/client.ts';
import { invalid, notFound } from '../errors.ts';

/** Every agent must exist and be the caller's; the first that is not is named in a 404. */
export async function requireOwnAgents(db: PrismaTx, ownerId: string, ids: string[]): Promise<void> {
  const found = await db.agent.findMany({ where: { ownerId, id: { in: ids } }, select: { id: true } });
  const known = new Set(found.map((a) => a.id));
  const missing = ids.find((id) => !known.has(id));
  if (missing !== undefined) throw notFound(`Agent ${missing} not found`);
}

/** The settings a create or update names, as columns. */
export function settingColumns(input: {
  lease_seconds?: number;
  claim_timeout_seconds?: number;
  max_attempts?: number;
  replication?: number;
  max_replication?: number;
  work_stealing?: boolean;
  speculation?: boolean;
  speculation_multiplier?: number;
  speculation_quantile?: number;
  retry_base_seconds?: number;
  retry_max_seconds?: number;
  max_attempt_seconds?: number;
}) {
  const columns = {
    leaseSeconds: input.lease_seconds,
    claimTimeoutSeconds: input.claim_timeout_seconds,
    maxAttempts: input.max_attempts,
    replication: input.replication,
    maxReplication: input.max_replication,
    workStealing: input.work_stealing,
    speculation: input.speculation,
    speculationMultiplier: input.speculation_multiplier,
    speculationQuantile: input.speculation_quantile,
    retryBaseSeconds: input.retry_base_seconds,
    retryMaxSeconds: input.retry_max_seconds,
    maxAttemptSeconds: input.max_attempt_seconds,
  };
  return Object.fromEntries(Object.entries(columns).filter(([, v]) => v !== undefined));
}

export function checkReplication(settings: { replication: number; max_replication: number }): void {
  if (settings.max_replication < settings.replication) {
    throw invalid(`max_replication (${settings.max_replication}) must be at least replication (${settings.replication})`);
  }
}

export function selectMetrics(metrics: NetworkMetrics, wanted: string | undefined): Partial<NetworkMetrics> {
  const names = (wanted ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (names.length === 0 || names.includes('all')) return metrics;
  const unknown = names.filter((n) => !(NETWORK_METRIC_NAMES as string[]).includes(n));
  if (unknown.length > 0) {
    throw invalid(`Unknown metric ${unknown.join(', ')}; choose from ${NETWORK_METRIC_NAMES.join(', ')} (or all)`);
  }
  return Object.fromEntries(names.map((n) => [n, metrics[n as keyof NetworkMetrics]]));
}

/**
 * The verification column a create or update writes (README "Verification"): the policy named, merged into the
 * current one (an update) or the defaults, stored in full; nothing when none is named. The merged policy is
 * checked again: a quorum or copies above max_copies is a 400.
 */
export function verificationColumn(
  current: VerificationSettings | undefined,
  input: VerificationInput | undefined,
): { verification?: VerificationSettings } {
  if (input === undefined) return {};
  const merged = verificationSettings({ ...current, ...input });
  for (const field of ['quorum', 'copies'] as const)
    if (merged[field] > merged.max_copies)
      throw invalid(`verification.${field} (${merged[field]}) must be at most verification.max_copies (${merged.max_copies})`);
  return { verification: merged };
}

// Network and execution rows and their views: decoding raw rows and mapping
// them to the API's shapes, with no I/O. (records.ts holds the queries.)
import type {
  CoordinationStrategy,
  ExecutionResults,
  ExecutionStatus,
  ExecutionSummary,
  ExecutionView,
  NetworkStatus,
  NetworkView,
  Priority,
  SubtaskStatus,
  SubtaskView,
} from '@aitbc/core';
import {
  type VerificationInput,
  type VerificationSettings,
  type VerificationView,
  speculationView,
  verificationSettings,
  verificationView,
} from '@aitbc/core';
import type { PrismaTx } from '../db/client.ts';
import { flag, fromJson, time } from '../db/sql.ts';
import type { SubtaskRow } from '../work/subtasks.ts';
import { subtasksVerification, validationOf } from '../verification/views.ts';

export type NetworkRow = NonNullable<Awaited<ReturnType<PrismaTx['agentNetwork']['findFirst']>>>;
export type ExecutionRow = NonNullable<Awaited<ReturnType<PrismaTx['agentNetworkExecution']['findFirst']>>>;

const iso = (d: Date | null): string | null => d?.toISOString() ?? null;
const num = (v: unknown) => Number(v ?? 0);

/** An agent_networks row read with raw SQL, as Prisma would have returned it. */
export function networkFrom(r: Record<string, unknown>): NetworkRow {
  return {
    id: r.id as string,
    name: r.name as string,
    description: (r.description as string | null) ?? null,
    agents: fromJson(r.agents),
    coordinationStrategy: r.coordination_strategy as string,
    status: r.status as string,
    ownerId: r.owner_id as string,
    rrCursor: num(r.rr_cursor),
    leaseSeconds: num(r.lease_seconds),
    claimTimeoutSeconds: num(r.claim_timeout_seconds),
    maxAttempts: num(r.max_attempts),
    replication: num(r.replication),
    maxReplication: num(r.max_replication),
    workStealing: flag(r.work_stealing),
    speculation: flag(r.speculation),
    speculationMultiplier: num(r.speculation_multiplier),
    speculationQuantile: num(r.speculation_quantile),
    retryBaseSeconds: num(r.retry_base_seconds),
    retryMaxSeconds: num(r.retry_max_seconds),
    maxAttemptSeconds: num(r.max_attempt_seconds),
    liveExecutions: num(r.live_executions),
    executionsTotal: num(r.executions_total),
    executionsCompleted: num(r.executions_completed),
    executionsFailed: num(r.executions_failed),
    executionSeconds: num(r.execution_seconds),
    replicatedDecided: num(r.replicated_decided),
    disagreements: num(r.disagreements),
    verification: fromJson(r.verification),
    verifyValidated: num(r.verify_validated),
    verifyInconclusive: num(r.verify_inconclusive),
    verifyResults: num(r.verify_results),
    verifyReplicas: num(r.verify_replicas),
    verifyInvalid: num(r.verify_invalid),
    lastActivityAt: time(r.last_activity_at),
    createdAt: time(r.created_at),
    updatedAt: time(r.updated_at),
  } satisfies Record<keyof NetworkRow, unknown> as NetworkRow;
}

export function networkSettings(n: NetworkRow) {
  return {
    lease_seconds: n.leaseSeconds,
    claim_timeout_seconds: n.claimTimeoutSeconds,
    max_attempts: n.maxAttempts,
    replication: n.replication,
    max_replication: n.maxReplication,
    work_stealing: n.workStealing,
    speculation: n.speculation,
    speculation_multiplier: n.speculationMultiplier,
    speculation_quantile: n.speculationQuantile,
    retry_base_seconds: n.retryBaseSeconds,
    retry_max_seconds: n.retryMaxSeconds,
    max_attempt_seconds: n.maxAttemptSeconds,
  };
}

/** The network's verification policy in full (none without one). */
export function networkVerification(n: NetworkRow): VerificationSettings {
  return verificationSettings(n.verification as VerificationInput | null);
}

/** The network's verified work in all (its counters). */
export function networkVerificationView(n: NetworkRow): VerificationView {
  return verificationView(networkVerification(n), {
    validated: n.verifyValidated,
    inconclusive: n.verifyInconclusive,
    pending: null,
    results: n.verifyResults,
    replicas: n.verifyReplicas,
    invalid: n.verifyInvalid,
  });
}

export function toNetworkView(n: NetworkRow): NetworkView {
  return {
    id: n.id,
    name: n.name,
    description: n.description,
    agents: n.agents as string[],
    coordination_strategy: n.coordinationStrategy as CoordinationStrategy,
    status: n.status as NetworkStatus,
    verification: networkVerification(n),
    owner_id: n.ownerId,
    created_at: n.createdAt.toISOString(),
    updated_at: n.updatedAt.toISOString(),
    ...networkSettings(n),
  };
}

const PRIORITY_NAMES: Priority[] = ['high', 'normal', 'low'];
export const priorityRank = (p: Priority): number => PRIORITY_NAMES.indexOf(p);

/** `decided`: its subtasks decided so far (execution_progress, summed). */
export function toExecutionSummary(e: ExecutionRow, decided: number): ExecutionSummary {
  return {
    id: e.id,
    execution_id: e.id,
    network_id: e.networkId,
    priority: e.priority as Priority,
    status: e.status as ExecutionStatus,
    progress: { total: e.subtaskCount, completed: decided, failed: e.failedCount },
    error: e.error,
    created_at: e.createdAt.toISOString(),
    started_at: iso(e.startedAt),
    completed_at: iso(e.completedAt),
    speculation: speculationView(e),
  };
}

export function toSubtaskView(s: SubtaskRow): SubtaskView {
  return {
    id: s.id,
    seq: s.seq,
    replica: s.replica,
    status: s.status as SubtaskStatus,
    requires: (s.requires as string[] | null) ?? [],
    assignee_id: s.assigneeId,
    attempts: s.attempts,
    accepted: s.accepted,
    ...validationOf(s),
    ...(s.status === 'completed' ? { result: s.result } : {}),
    error: s.error,
    started_at: iso(s.startedAt),
    completed_at: iso(s.completedAt),
  };
}

export function toExecutionView(e: ExecutionRow, subtasks: SubtaskRow[], decided: number): ExecutionView {
  return {
    ...toExecutionSummary(e, decided),
    task: e.task as Record<string, unknown>,
    verification: e.verification ? subtasksVerification(verificationSettings(e.verification as VerificationInput), subtasks) : null,
    results: (e.results as ExecutionResults | null) ?? null,
    subtasks: subtasks.map(toSubtaskView),
  };
}

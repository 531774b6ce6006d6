/**
 * Submitting an execution: its task decomposed, each subtask assigned by the
 * network's strategy, and the execution stored with its subtasks at once.
 */
import { randomUUID } from 'node:crypto';
import {
  type CoordinationStrategy,
  decomposeTask,
  type ExecutionView,
  type NetworkTask,
  NoCapableAgentError,
  type Priority,
  planAssignments,
} from '@aitbc/core';
import type { Tx } from '../db/database.ts';
import { json, sql } from '../db/sql.ts';
import { conflict, unprocessable } from '../errors.ts';
import type { KeyRecord } from '../idempotency.ts';
import { executionStarted } from '../stats.ts';
import { enrollment, quarantinedAmong } from '../verification/records.ts';
import type { WorkEngine } from '../work/engine.ts';
import type { SubtaskRow } from '../work/subtasks.ts';
import { networkWithCandidates } from './candidates.ts';
import { executionSubtask } from './copies.ts';
import { networkNotFound } from './records.ts';
import { type ExecutionRow, networkVerification, priorityRank, toExecutionView } from './views.ts';

/**
 * Decompose the task, assign every subtask by the network's strategy, and
 * store the execution with its subtasks and their assignments at once. The
 * answer is built from the rows written, not read back.
 */
export async function submitExecution(
  tx: Tx,
  work: WorkEngine,
  ownerId: string,
  input: { network_id: string; task: NetworkTask; priority: Priority },
  now: Date,
  record?: KeyRecord,
): Promise<ExecutionView> {
  // The network and its candidates in one read (one round trip before the write).
  const read = await networkWithCandidates(tx.sql, ownerId, input.network_id, now);
  if (!read) throw networkNotFound(input.network_id);
  const { network, candidates } = read;
  if (network.status !== 'active') {
    const how = network.status === 'paused' ? `; resume it with PATCH /api/v1/agents/networks/${network.id} {"status":"active"}` : '';
    throw conflict(`Agent network ${network.id} is ${network.status} and accepts no executions${how}`);
  }
  if (candidates.length === 0) {
    const quarantined = await quarantinedAmong(tx.sql, network.agents as string[], now);
    throw conflict(
      quarantined.size > 0
        ? `Every agent of network ${network.id} that exists is quarantined (README "Verification"); lift one with POST /api/v1/hosts/{host_id}/lift`
        : `None of agent network ${network.id}'s agents exist any more; update its agents first`,
    );
  }
  const planned = decomposeTask(input.task, candidates.length);
  const verification = networkVerification(network);
  let plan: ReturnType<typeof planAssignments>;
  try {
    plan = planAssignments(planned, candidates, {
      strategy: network.coordinationStrategy as CoordinationStrategy,
      cursor: network.rrCursor,
      replication: network.replication,
      // Under a policy, a subtask starts with k copies (replicate) or one (adaptive) on distinct hosts.
      copies: verification.policy === 'replicate' ? verification.copies : verification.policy === 'adaptive' ? 1 : undefined,
    });
  } catch (error) {
    if (error instanceof NoCapableAgentError) throw unprocessable(error.message);
    throw error;
  }

  // Written raw (a Prisma write inside the raw transaction costs a savepoint pair besides itself); the row as stored.
  const execution: ExecutionRow = {
    id: randomUUID(),
    networkId: network.id,
    ownerId,
    task: input.task as ExecutionRow['task'],
    priority: input.priority,
    // The policy it runs under, whatever the network's becomes.
    verification: verification.policy === 'none' ? null : (verification as unknown as ExecutionRow['verification']),
    status: 'queued',
    results: null,
    error: null,
    subtaskCount: planned.length,
    failedCount: 0,
    replicatedDecided: 0,
    disagreements: 0,
    backupsLaunched: 0,
    backupsWon: 0,
    backupSecondsSaved: 0,
    startedAt: null,
    completedAt: null,
    createdAt: now,
    updatedAt: now,
    // Its subtasks' spans join the trace of the request that submitted it (tracing on only).
    traceParent: work.tracing.current() ?? null,
  };
  const created = sql`
    INSERT INTO "agent_network_executions" ("id", "network_id", "owner_id", "task", "priority", "verification", "status",
      "subtask_count", "created_at", "updated_at", "trace_parent")
    VALUES (${execution.id}, ${execution.networkId}, ${ownerId}, ${json(input.task)}, ${execution.priority},
      ${execution.verification === null ? null : json(verification)}, 'queued', ${execution.subtaskCount}, ${now}, ${now},
      ${execution.traceParent})`;
  const counted = executionStarted(network.id, plan.cursor, now);
  const bySeq = new Map(planned.map((p) => [p.seq, p]));
  const rows = plan.assignments.map((a) => {
    const subtask = bySeq.get(a.seq)!;
    return executionSubtask(
      network,
      execution.id,
      { ...a, payload: subtask.payload, requires: subtask.requires, priorityRank: priorityRank(input.priority), createdAt: now },
      now,
    );
  });
  // Under adaptive, its agents never validated are held to one unchecked subtask of their own (README "Verification").
  const enrolled =
    verification.policy === 'adaptive'
      ? enrollment(
          'agent',
          ownerId,
          candidates.map((c) => c.id),
          now,
        )
      : null;
  const written = rows
    .map(
      (r): SubtaskRow => ({
        ...r,
        payload: r.payload as SubtaskRow['payload'],
        status: 'assigned',
        assignedAt: now,
        leaseExpiresAt: null,
        attempts: 0,
        leaseId: null,
        attemptDeadlineAt: null,
        backupDeadlineAt: null,
        backupAssigneeId: null,
        backupLeaseId: null,
        backupLeaseExpiresAt: null,
        result: null,
        resultKey: null,
        accepted: false,
        validation: null,
        error: null,
        startedAt: null,
        completedAt: null,
        updatedAt: now,
      }),
    )
    .sort((a, b) => a.seq - b.seq || a.replica - b.replica);
  const view = toExecutionView(execution, written, 0);
  // The execution's row and the network's counters, before its subtasks (which refer to it). On PostgreSQL every
  // write in one statement (data-modifying CTEs ahead of the subtasks' INSERT, which takes any number of rows): it
  // commits whole on its own, so an execute runs with no transaction around it (Database.autocommit) and holds the
  // network's row only while the statement runs; under an idempotency key the key's record, holding this answer, is
  // one more CTE (idempotency.ts submitKeyed).
  const postgres = tx.sql.dialect === 'postgresql';
  if (record && !postgres) throw new Error('submitExecution: a key record is written in the one statement of PostgreSQL only');
  const keyed = record ? sql`, "keyed" AS (${record(view)})` : sql``;
  if (!postgres) {
    if (enrolled) await tx.sql.run(enrolled);
    await tx.sql.run(created);
    await tx.sql.run(counted);
  }
  // With stealing on, every agent of the network may take part of it: wake them all, not only the assignees; a high
  // execution's work any of them takes first (work/urgent.ts).
  await work.enqueue(
    tx,
    rows,
    now,
    network.workStealing ? candidates.map((c) => c.id) : [],
    input.priority === 'high',
    postgres
      ? sql`WITH "created" AS (${created}), "counted" AS (${counted})${enrolled ? sql`, "enrolled" AS (${enrolled})` : sql``}${keyed}`
      : undefined,
  );
  return view;
}

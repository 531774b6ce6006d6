/** A subtask's history: the subtask as it stands, and every attempt of it with how it ended and why. */
import type { AttemptView, SubtaskHistory } from '@aitbc/core';
import { notFound } from '../errors.ts';
import { parentOf } from './parent.ts';
import type { EngineState } from './state.ts';
import { describe } from './views.ts';

export async function subtaskHistory(w: EngineState, ownerId: string, subtaskId: string): Promise<SubtaskHistory> {
  return w.deps.db.run(async (_, sql) => {
    const [s] = await w.deps.sql.readSubtasks(sql, ownerId, [subtaskId]);
    if (!s) throw notFound(`Subtask ${subtaskId} not found`);
    const [about, attempts] = await Promise.all([describe(w, sql, [s]), w.deps.sql.attemptsOf(sql, s.id)]);
    const d = about.get(parentOf(s)?.id ?? '');
    return {
      subtask_id: s.id,
      status: s.status as SubtaskHistory['status'],
      execution_id: d?.execution_id ?? null,
      network_id: d?.network_id ?? null,
      task_id: d?.task_id ?? null,
      swarm_id: d?.swarm_id ?? null,
      seq: s.seq,
      replica: s.replica,
      assignee_id: s.assigneeId,
      attempts: s.attempts,
      max_attempts: s.maxAttempts,
      max_attempt_seconds: s.maxAttemptSeconds,
      retry_at: s.status === 'pending' ? (s.claimBy?.toISOString() ?? null) : null,
      lease_expires_at: s.leaseExpiresAt?.toISOString() ?? null,
      error: s.error,
      created_at: s.createdAt.toISOString(),
      completed_at: s.completedAt?.toISOString() ?? null,
      history: attempts.map(
        (a): AttemptView => ({
          lease_id: a.leaseId,
          assignee_id: a.assigneeId,
          backup: a.backup,
          outcome: a.outcome as AttemptView['outcome'],
          error: a.error,
          started_at: a.startedAt.toISOString(),
          ended_at: a.endedAt?.toISOString() ?? null,
        }),
      ),
    };
  });
}

/**
 * Verification as views show it (README "Verification"): a copy's
 * validation, and the verified work of an execution or task counted from
 * its subtask rows. No I/O.
 */
import { type ValidatedBy, type ValidationState, type VerificationSettings, type VerificationView, verificationView } from '@aitbc/core';
import type { SubtaskRow } from '../work/subtasks.ts';

type CopyRow = Pick<SubtaskRow, 'seq' | 'status' | 'accepted' | 'validation'>;

/** A copy's stored validation as views show it: `trusted` is validated, by trust. */
export function validationOf(s: Pick<SubtaskRow, 'validation'>): { validation: ValidationState | null; validated_by: ValidatedBy | null } {
  if (s.validation === 'trusted') return { validation: 'validated', validated_by: 'trust' };
  if (s.validation === 'validated') return { validation: 'validated', validated_by: 'quorum' };
  return { validation: (s.validation as ValidationState | null) ?? null, validated_by: null };
}

/**
 * The verified work of one execution or task, from its subtask rows: each subtask (seq) validated, inconclusive
 * or pending, the results its copies ran, the copies beyond each one's first, and the invalid results.
 */
export function subtasksVerification(settings: VerificationSettings, rows: CopyRow[]): VerificationView {
  const bySeq = new Map<number, CopyRow[]>();
  for (const s of rows) bySeq.set(s.seq, [...(bySeq.get(s.seq) ?? []), s]);
  let validated = 0;
  let inconclusive = 0;
  let results = 0;
  let replicas = 0;
  for (const copies of bySeq.values()) {
    const decided = copies.some((s) => s.accepted);
    if (decided) validated++;
    else if (copies.some((s) => s.validation === 'inconclusive')) inconclusive++;
    else continue;
    results += copies.filter((s) => s.status === 'completed').length;
    replicas += copies.length - 1;
  }
  return verificationView(settings, {
    validated,
    inconclusive,
    pending: bySeq.size - validated - inconclusive,
    results,
    replicas,
    invalid: rows.filter((s) => s.validation === 'invalid').length,
  });
}

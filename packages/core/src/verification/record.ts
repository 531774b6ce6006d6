/**
 * A host's validation record (README "Verification"): what its checked
 * results said about it. A result is checked when other copies of its
 * subtask were compared with it and a quorum validated one answer: it is
 * then valid (it agreed) or invalid (it dissented). A result validated by
 * trust alone, or part of an inconclusive subtask, is not checked and
 * changes nothing.
 *
 * - Valid: the streak of consecutive valid results grows by one.
 * - Invalid: the streak goes back to 0, so a trusted host is untrusted at
 *   once (its unchecked results in live work are checked again).
 * - Trusted: a streak of at least trust_after (N), and not quarantined.
 * - Quarantine: when quarantine_after of its last RECENT_WINDOW checked
 *   results are invalid, the host gets no work for quarantine_seconds, or
 *   until its owner lifts it. It comes back untrusted with a clean window.
 * - Probation (adaptive): a host with no valid checked result yet (a new
 *   host, or one only ever found wrong) holds one subtask of its own at a
 *   time: none other while it holds one, or while a result of its awaits
 *   its check (at most one lease). Copies that check others' results it
 *   still takes, one at a time (none while it holds one or one awaits a
 *   tie-breaker), so a check never waits on a host on probation. An
 *   always-wrong host thus hands in one own result and one check at a time,
 *   and is quarantined after 2 or 3 results, however fast it answers. One
 *   valid result ends it for good. A doubted host (an invalid result among
 *   its last RECENT_WINDOW checked) goes on probation too while a result of
 *   its awaits its check, until the invalid one leaves its window: it hands
 *   in one unchecked result at a time, and others take the rest of its
 *   queue (each result of a doubted host costs a check, often a tie-breaker).
 * - Reputation (an agent's here; a member's is its swarm reputation): the
 *   same moving average consensus uses, r ← r + 0.2 × (1 − r) when valid,
 *   r ← r − 0.2 × r when invalid.
 */
import { RECENT_WINDOW, type VerificationSettings } from '../schemas/verification.ts';
import { REPUTATION, updateReputation } from '../swarm/reputation.ts';

export interface ValidationRecord {
  validStreak: number;
  valid: number;
  invalid: number;
  /** The last RECENT_WINDOW checked results, oldest first: `v` valid, `x` invalid. */
  recent: string;
  reputation: number;
  quarantinedAt: Date | null;
  quarantinedUntil: Date | null;
  quarantines: number;
}

export const NEW_VALIDATION_RECORD: ValidationRecord = {
  validStreak: 0,
  valid: 0,
  invalid: 0,
  recent: '',
  reputation: REPUTATION.initial,
  quarantinedAt: null,
  quarantinedUntil: null,
  quarantines: 0,
};

export function isQuarantined(record: Pick<ValidationRecord, 'quarantinedUntil'>, now: Date): boolean {
  return record.quarantinedUntil !== null && record.quarantinedUntil.getTime() > now.getTime();
}

export function isTrusted(record: Pick<ValidationRecord, 'validStreak' | 'quarantinedUntil'>, trustAfter: number, now: Date): boolean {
  return record.validStreak >= trustAfter && !isQuarantined(record, now);
}

/**
 * Whether a host with this record (none: never checked) goes on probation while a result of its awaits its check:
 * never validated, or an invalid result among its last checked ones (a doubted host: likely wrong again).
 */
export function takesProbation(record: Pick<ValidationRecord, 'valid' | 'recent'> | undefined): boolean {
  return !record || record.valid === 0 || record.recent.includes('x');
}

export interface CheckedOutcome {
  record: ValidationRecord;
  /** This result quarantined the host. */
  quarantined: boolean;
  /** The host was trusted, and this result was invalid: its unchecked results are suspect. */
  caught: boolean;
}

type Settings = Pick<VerificationSettings, 'trust_after' | 'quarantine_after' | 'quarantine_seconds'>;

/** The record after one more checked result (see the file header). */
export function recordChecked(current: ValidationRecord, valid: boolean, settings: Settings, now: Date): CheckedOutcome {
  const caught = !valid && isTrusted(current, settings.trust_after, now);
  const recent = `${current.recent}${valid ? 'v' : 'x'}`.slice(-RECENT_WINDOW);
  const record: ValidationRecord = {
    ...current,
    validStreak: valid ? current.validStreak + 1 : 0,
    valid: current.valid + (valid ? 1 : 0),
    invalid: current.invalid + (valid ? 0 : 1),
    recent,
    reputation: updateReputation(current.reputation, valid),
  };
  const failures = [...recent].filter((c) => c === 'x').length;
  if (valid || failures < settings.quarantine_after || isQuarantined(current, now)) return { record, quarantined: false, caught };
  return {
    record: {
      ...record,
      validStreak: 0,
      recent: '',
      quarantinedAt: now,
      quarantinedUntil: new Date(now.getTime() + settings.quarantine_seconds * 1000),
      quarantines: current.quarantines + 1,
    },
    quarantined: true,
    caught,
  };
}

// Verified results in the CLI (README "Verification"): the policy as flags on network create and update, and
// short texts for a policy and for what verification cost and caught.
import { COMPARATORS, type VerificationInput, type VerificationSettings, type VerificationView, VERIFICATION_POLICIES } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { duration, integerFrom, numberFrom } from './flags.ts';

export interface VerificationFlags {
  verification?: VerificationSettings['policy'];
  copies?: number;
  quorum?: number;
  maxCopies?: number;
  trustAfter?: number;
  spotCheckRate?: number;
  comparator?: VerificationSettings['comparator'];
  tolerance?: number;
  absoluteTolerance?: number;
  quarantineAfter?: number;
  /** Seconds. */
  quarantine?: number;
}

export function addVerificationOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--verification <policy>', 'verify results: none (default), replicate (k copies, q agree) or adaptive (trust)').choices(
        VERIFICATION_POLICIES,
      ),
    )
    .option('--copies <k>', 'replicate: copies each subtask starts with (default 2)', integerFrom(1, 16))
    .option('--quorum <q>', 'copies that must agree for a result to count (default 2)', integerFrom(1, 16))
    .option('--max-copies <n>', 'the most copies a disputed subtask gets before it is inconclusive (default 4)', integerFrom(1, 32))
    .option('--trust-after <n>', 'adaptive: valid results in a row that make a host trusted (default 10)', integerFrom(1, 1000))
    .option('--spot-check-rate <r>', 'adaptive: the share of a trusted host’s results checked anyway (default 0.1)', numberFrom(0, 1))
    .addOption(new Option('--comparator <how>', 'how results are compared (default exact)').choices(COMPARATORS))
    .option('--tolerance <relative>', 'numeric: relative tolerance on every number (default 1e-6)', numberFrom(0, 1))
    .option('--absolute-tolerance <x>', 'numeric: absolute tolerance (default 1e-9)', numberFrom(0, 1e12))
    .option('--quarantine-after <n>', 'invalid results among a host’s last 10 checked that quarantine it (default 2)', integerFrom(1, 10))
    .option('--quarantine <duration>', 'how long a quarantine lasts unless lifted, e.g. 1h or 30m (default 1h)', duration(1, 30 * 86_400));
}

/** The policy the flags name (absent flags left out); undefined when no verification flag is given. */
export function verificationFrom(flags: VerificationFlags): VerificationInput | undefined {
  const named: VerificationInput = {
    policy: flags.verification,
    copies: flags.copies,
    quorum: flags.quorum,
    max_copies: flags.maxCopies,
    trust_after: flags.trustAfter,
    spot_check_rate: flags.spotCheckRate,
    comparator: flags.comparator,
    relative_tolerance: flags.tolerance,
    absolute_tolerance: flags.absoluteTolerance,
    quarantine_after: flags.quarantineAfter,
    quarantine_seconds: flags.quarantine,
  };
  const given = Object.fromEntries(Object.entries(named).filter(([, v]) => v !== undefined));
  return Object.keys(given).length ? given : undefined;
}

/**
 * A policy as `key: value` lines short enough for 80 columns: `verification: adaptive`, `quorum: 2 agree, at most
 * 4 copies`, `trust: after 10 valid in a row, 10% spot-checked`, the comparator and the quarantine.
 */
export function policyFields(v: VerificationSettings): Record<string, string> {
  if (v.policy === 'none') return { verification: 'none' };
  const copies = v.policy === 'replicate' ? `${v.copies} copies first, ` : '';
  return {
    verification: v.policy,
    quorum: `${v.quorum} agree, ${copies}at most ${v.max_copies} copies`,
    ...(v.policy === 'adaptive'
      ? { trust: `after ${v.trust_after} valid in a row, ${Math.round(v.spot_check_rate * 1000) / 10}% spot-checked` }
      : {}),
    comparator: v.comparator === 'numeric' ? `numeric (relative ${v.relative_tolerance}, absolute ${v.absolute_tolerance})` : v.comparator,
    quarantine: `${v.quarantine_after} invalid of the last 10, for ${v.quarantine_seconds} s`,
  };
}

/**
 * What verification did, as `key: value` lines: `validation: 3 validated, 1 inconclusive, 0 pending`,
 * `verification cost: 7 results (2.33× needed), 4 extra copies`, `invalid results: 1`. Nothing without a policy.
 */
export function verificationFields(v: VerificationView | null | undefined): Record<string, string> {
  if (!v || v.policy === 'none') return {};
  const pending = v.subtasks_pending !== null ? `, ${v.subtasks_pending} pending` : '';
  const overhead = v.compute_overhead !== null ? ` (${v.compute_overhead}× needed)` : '';
  return {
    validation: `${v.subtasks_validated} validated, ${v.subtasks_inconclusive} inconclusive${pending}`,
    'verification cost': `${v.results_run} results${overhead}, ${v.replicas_launched} extra copies`,
    'invalid results': String(v.invalid_results),
  };
}

/** A copy's validation for a table: `validated`, `validated (trust)`, `invalid`, … or blank. */
export function validationText(s: { validation: string | null; validated_by: string | null }): string {
  if (!s.validation) return '';
  return s.validated_by === 'trust' ? 'validated (trust)' : s.validation;
}

/**
 * Verified results (README "Verification"): the policy a network (and a
 * swarm task, in `parameters`) checks its hosts' results by, the
 * comparators, and how views report validation and hosts. The decisions
 * themselves are pure functions in `verification/`.
 */
import { z } from 'zod';
import { Id, IsoDateTime, NextCursor, PageQuery, QueryBoolean } from './common.ts';

/**
 * - `none`: a result counts as its host gave it (the default, and what every strategy did before).
 * - `replicate`: every subtask runs on `copies` distinct hosts; a result counts once `quorum` of them agree.
 * - `adaptive`: a subtask runs once; a trusted host's result counts (spot-checked at `spot_check_rate`), an
 *   untrusted host's is replicated until `quorum` agree. Trust is `trust_after` consecutive valid results.
 */
export const VERIFICATION_POLICIES = ['none', 'replicate', 'adaptive'] as const;
export const VerificationPolicy = z.enum(VERIFICATION_POLICIES, {
  error: () => `Invalid verification policy. Must be one of: ${VERIFICATION_POLICIES.join(', ')}`,
});
export type VerificationPolicy = z.infer<typeof VerificationPolicy>;

/**
 * How two results are compared (no user code runs on the server):
 * - `exact`: equal canonical JSON (sorted keys), the comparison replicas always used;
 * - `numeric`: the same shape, and every number within the tolerance: |a − b| ≤ max(absolute, relative × max(|a|, |b|));
 * - `set`: every array compared as a set (order and repeats do not matter), the rest exactly.
 */
export const COMPARATORS = ['exact', 'numeric', 'set'] as const;
export const Comparator = z.enum(COMPARATORS, { error: () => `Invalid comparator. Must be one of: ${COMPARATORS.join(', ')}` });
export type Comparator = z.infer<typeof Comparator>;

/** Checked results a quarantine looks back over (README "Verification"). */
export const RECENT_WINDOW = 10;

const VerificationFields = z.object({
  policy: VerificationPolicy.describe('none (default), replicate or adaptive'),
  copies: z.number().int().min(1).max(16).describe('replicate: copies each subtask starts with (k, default 2)'),
  quorum: z.number().int().min(1).max(16).describe('copies that must agree for a result to count (q, default 2)'),
  max_copies: z.number().int().min(1).max(32).describe('the most copies a disputed subtask gets before it is inconclusive (default 4)'),
  trust_after: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .describe('adaptive: consecutive valid results that make a host trusted; one invalid result resets it (N, default 10)'),
  spot_check_rate: z.number().min(0).max(1).describe('adaptive: the share of a trusted host’s results checked anyway (r, default 0.1)'),
  comparator: Comparator.describe('exact (default), numeric or set'),
  relative_tolerance: z.number().min(0).max(1).describe('numeric: relative tolerance (default 1e-6)'),
  absolute_tolerance: z.number().min(0).max(1e12).describe('numeric: absolute tolerance (default 1e-9)'),
  quarantine_after: z
    .number()
    .int()
    .min(1)
    .max(RECENT_WINDOW)
    .describe(`invalid results among a host’s last ${RECENT_WINDOW} checked that quarantine it (default 2)`),
  quarantine_seconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 86_400)
    .describe('how long a quarantine lasts unless its owner lifts it first (default 3600)'),
});

/** The settings in full, as stored and shown. */
export const VerificationSettings = VerificationFields;
export type VerificationSettings = z.infer<typeof VerificationSettings>;

/**
 * Defaults, and why:
 * - k = q = 2: two independent hosts agreeing is the least replication that catches one faulty host; a wrong
 *   result then needs two hosts to return the same wrong answer (BOINC's usual min_quorum).
 * - max_copies 4: room for one dissent and a tie-break; a subtask whose hosts still disagree after four is more
 *   likely nondeterministic than unlucky, and is reported inconclusive rather than run on every host.
 * - N = 10 (BOINC's adaptive replication): a host wrong 30% of the time earns trust by luck with probability
 *   0.7^10 ≈ 3%, while an honest host pays for ten checked results once.
 * - r = 0.1: a trusted host that turns bad is caught after 1/r = 10 bad results on average, within 50 with
 *   probability 1 − 0.9^50 ≈ 99.5%, for 10% more work on trusted hosts.
 * - quarantine after 2 invalid of the last 10 checked, for an hour: a host failing 2 of its last 10 checks is
 *   wrong at least 20% of the time it is checked, and every one of its results costs a tie-breaking copy; an
 *   always-wrong host is out after its 2nd checked result. An honest host is never invalid: that would take two
 *   other hosts agreeing on one wrong answer.
 */
export const DEFAULT_VERIFICATION: VerificationSettings = {
  policy: 'none',
  copies: 2,
  quorum: 2,
  max_copies: 4,
  trust_after: 10,
  spot_check_rate: 0.1,
  comparator: 'exact',
  relative_tolerance: 1e-6,
  absolute_tolerance: 1e-9,
  quarantine_after: 2,
  quarantine_seconds: 3600,
};

/** What a network create or update (or a swarm task's `parameters.verification`) names; the rest are the defaults. */
export const VerificationInput = VerificationFields.partial()
  .strict()
  .superRefine((v, ctx) => {
    const full = { ...DEFAULT_VERIFICATION, ...v };
    if (full.quorum > full.max_copies)
      ctx.addIssue({
        code: 'custom',
        path: ['quorum'],
        message: `quorum (${full.quorum}) must be at most max_copies (${full.max_copies})`,
      });
    if (full.copies > full.max_copies)
      ctx.addIssue({
        code: 'custom',
        path: ['copies'],
        message: `copies (${full.copies}) must be at most max_copies (${full.max_copies})`,
      });
  })
  .describe('how results are verified (README "Verification"); absent fields take their defaults');
export type VerificationInput = z.input<typeof VerificationInput>;

/** The settings a verification input gives (defaults filled in). */
export function verificationSettings(input: VerificationInput | null | undefined): VerificationSettings {
  return { ...DEFAULT_VERIFICATION, ...(input ?? {}) } as VerificationSettings;
}

/**
 * A copy's validation: `pending` (its result waits for others to agree), `validated` (it carries or agreed with
 * the subtask's result), `invalid` (it disagreed with the result a quorum validated), `inconclusive` (no quorum
 * agreed within max_copies: every answer is kept, none counts).
 */
export const VALIDATION_STATES = ['pending', 'validated', 'invalid', 'inconclusive'] as const;
export const ValidationState = z.enum(VALIDATION_STATES);
export type ValidationState = z.infer<typeof ValidationState>;

/** How a validated result was validated: `quorum` hosts agreed, or its host was `trust`ed and not spot-checked. */
export const ValidatedBy = z.enum(['quorum', 'trust']);
export type ValidatedBy = z.infer<typeof ValidatedBy>;

/** Work under a policy: what verification cost and caught (an execution's, a task's, or a network's or swarm's in all). */
export const VerificationView = z
  .object({
    policy: VerificationPolicy.nullable().describe('null for a swarm’s totals: each of its tasks has its own'),
    comparator: Comparator.nullable(),
    subtasks_validated: z.number().int().describe('subtasks whose result was validated (by a quorum or by trust)'),
    subtasks_inconclusive: z.number().int().describe('subtasks no quorum agreed on within max_copies (every answer kept, none counted)'),
    subtasks_pending: z.number().int().nullable().describe('subtasks waiting for validation (executions and tasks only)'),
    results_run: z.number().int().describe('results hosts returned for those subtasks (the work run)'),
    replicas_launched: z.number().int().describe('copies run beyond each subtask’s first'),
    invalid_results: z.number().int().describe('results that disagreed with a validated quorum'),
    compute_overhead: z.number().nullable().describe('the work run ÷ the work needed (one result per decided subtask); null before any'),
  })
  .describe('verified results (README "Verification")');
export type VerificationView = z.infer<typeof VerificationView>;

// ---------------------------------------------------------------- hosts

export const HOST_KINDS = ['agent', 'member'] as const;
export const HostKind = z.enum(HOST_KINDS);
export type HostKind = z.infer<typeof HostKind>;

/** A host label: agents or members on one machine share it, and replicas of a subtask never share one. */
export const HostLabel = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .describe('the machine it runs on: copies of one subtask never go to two hosts with the same label');

export const HostView = z.object({
  host_id: z.string().describe('the agent or member id'),
  kind: HostKind,
  name: z.string().nullable().describe('the agent’s name (members have none)'),
  host: z.string().nullable().describe('its host label'),
  trusted: z.boolean().describe('its last checked results were at least trust_after valid ones in a row'),
  valid_streak: z.number().int().describe('checked results valid in a row (one invalid resets it)'),
  valid: z.number().int().describe('checked results that agreed with a validated quorum'),
  invalid: z.number().int().describe('checked results that disagreed with a validated quorum'),
  recent: z.string().describe(`its last ${RECENT_WINDOW} checked results, oldest first: v valid, x invalid`),
  reputation: z.number().describe('an agent’s: r ← r + 0.2 × (valid − r) per checked result; a member’s swarm reputation'),
  quarantined: z.boolean(),
  quarantined_at: IsoDateTime.nullable(),
  quarantined_until: IsoDateTime.nullable().describe('no work until then, unless its owner lifts it first'),
  quarantines: z.number().int().describe('times it was quarantined'),
  probation_until: IsoDateTime.nullable().describe(
    'on probation: never yet validated, with a result awaiting its check, it takes no new work of its own (copies checking others it still takes, one at a time) until none awaits its check, or until then',
  ),
  updated_at: IsoDateTime,
});
export type HostView = z.infer<typeof HostView>;

export const HostListQuery = PageQuery.extend({
  quarantined: QueryBoolean.optional().describe('only quarantined hosts (true) or only the others (false)'),
});
export type HostListQuery = z.input<typeof HostListQuery>;

export const HostList = z.object({ hosts: z.array(HostView), total_count: z.number().int(), next_cursor: NextCursor });
export type HostList = z.infer<typeof HostList>;

export const HostIdParam = z.object({ host_id: Id.describe('an agent or member id') });

/** What verified work is counted by (subtasks decided, the results run for them, extra copies, invalid results). */
export interface VerificationCounts {
  validated: number;
  inconclusive: number;
  /** Executions and tasks only; null for a network's or swarm's totals. */
  pending: number | null;
  results: number;
  replicas: number;
  invalid: number;
}

/** The view of verified work: compute overhead = the results run ÷ one result per decided subtask. */
export function verificationView(
  settings: Pick<VerificationSettings, 'policy' | 'comparator'> | null,
  counts: VerificationCounts,
): VerificationView {
  const decided = counts.validated + counts.inconclusive;
  return {
    policy: settings?.policy ?? null,
    comparator: settings?.comparator ?? null,
    subtasks_validated: counts.validated,
    subtasks_inconclusive: counts.inconclusive,
    subtasks_pending: counts.pending,
    results_run: counts.results,
    replicas_launched: counts.replicas,
    invalid_results: counts.invalid,
    compute_overhead: decided > 0 ? Math.round((counts.results / decided) * 1000) / 1000 : null,
  };
}

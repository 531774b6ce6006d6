/**
 * Hosts' validation records (README "Verification"): reading trust and
 * quarantine, and writing what checked results say about their hosts, in the
 * transaction that decided them. A host is an agent or a swarm member; its
 * record's id is the agent's or member's id. The rules are core's
 * (verification/record.ts); this is their storage.
 */
import {
  type HostKind,
  isTrusted,
  NEW_VALIDATION_RECORD,
  recordChecked,
  takesProbation,
  type ValidationRecord,
  type VerificationSettings,
} from '@aitbc/core';
import { audit, SERVER_ACTOR } from '../audit/log.ts';
import type { Database, Tx } from '../db/database.ts';
import { inList, join, type Query, type Sql, sql, time } from '../db/sql.ts';
import type { WorkEngine } from '../work/engine.ts';

/** A validation_records row. */
export interface RecordRow extends ValidationRecord {
  id: string;
  ownerId: string;
  kind: HostKind;
  trusted: boolean;
  /** On probation until then (core's takesProbation), unless a check of its result ends it first. */
  probationUntil: Date | null;
  /** Its results taken on trust alone since its last check or spot-check draw (core's spotCheckDue). */
  trustedRun: number;
  createdAt: Date;
  updatedAt: Date;
}

export function recordFrom(r: Record<string, unknown>): RecordRow {
  return {
    id: r.id as string,
    ownerId: r.owner_id as string,
    kind: r.kind as HostKind,
    validStreak: Number(r.valid_streak),
    valid: Number(r.valid),
    invalid: Number(r.invalid),
    recent: String(r.recent ?? ''),
    reputation: Number(r.reputation),
    trusted: r.trusted === true || r.trusted === 1 || r.trusted === 1n,
    quarantinedAt: time(r.quarantined_at),
    quarantinedUntil: time(r.quarantined_until),
    quarantines: Number(r.quarantines),
    probationUntil: time(r.probation_until),
    trustedRun: Number(r.trusted_run ?? 0),
    createdAt: time(r.created_at),
    updatedAt: time(r.updated_at),
  };
}

/** The records of these hosts (those that have one). */
export async function readRecords(db: Sql, ids: string[]): Promise<Map<string, RecordRow>> {
  if (ids.length === 0) return new Map();
  const rows = await db.all(sql`SELECT * FROM "validation_records" WHERE "id" ${inList([...new Set(ids)])}`);
  return new Map(rows.map((r) => [r.id as string, recordFrom(r)]));
}

/** Of these hosts, those quarantined now. */
export async function quarantinedAmong(db: Sql, ids: string[], now: Date): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.all<{ id: string }>(sql`
    SELECT "id" FROM "validation_records" WHERE "id" ${inList([...new Set(ids)])} AND "quarantined_until" > ${now}`);
  return new Set(rows.map((r) => r.id));
}

/**
 * A trusted host's lone result was taken on its trust (`spotChecked` false: one more in its run) or drawn for a
 * spot check (its run starts again).
 */
export async function countTrustedRun(db: Sql, hostId: string, spotChecked: boolean, now: Date): Promise<void> {
  await db.run(sql`
    UPDATE "validation_records" SET "trusted_run" = ${spotChecked ? sql`0` : sql`"trusted_run" + 1`}, "updated_at" = ${now}
    WHERE "id" = ${hostId}`);
}

/**
 * Whether an untrusted host's results now awaiting their checks would make it trusted by themselves: its streak
 * (from its record, read by the caller) and those results reach `trustAfter`. The check of its next result may then
 * never run (a host made trusted has its results whose checks nobody started decided on its trust), so that copy
 * waits at the back of the queue.
 */
export async function trustInSight(db: Sql, host: Pick<RecordRow, 'id' | 'validStreak'>, trustAfter: number): Promise<boolean> {
  const row = await db.one<{ pending: unknown }>(sql`
    SELECT COUNT(*) AS "pending" FROM "subtasks" WHERE "assignee_id" = ${host.id} AND "status" = 'completed' AND "validation" = 'pending'`);
  return host.validStreak + Number(row?.pending ?? 0) >= trustAfter;
}

/**
 * Of these hosts, the doubted: never validated (no valid checked result: new, or only ever wrong), or with an
 * invalid result among their last checked ones. A copy meant to check another host's result goes to them only
 * when nobody else can take it: their answer would likely need a tie-breaker, and a host never validated could
 * otherwise hand in result after result as checks while its own work is on probation.
 */
export async function doubtedAmong(db: Sql, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const unique = [...new Set(ids)];
  const proven = await db.all<{ id: string }>(sql`
    SELECT "id" FROM "validation_records" WHERE "id" ${inList(unique)} AND "valid" > 0 AND "recent" NOT LIKE '%x%'`);
  const ok = new Set(proven.map((r) => r.id));
  return unique.filter((id) => !ok.has(id));
}

/**
 * Those of `hosts` that take probation (core's takesProbation: never yet validated) go on it: no new work of their
 * own until a result of theirs is validated or none awaits its check, or `seconds` pass. Written in host id order,
 * as recordChecks writes.
 */
export async function startProbation(tx: Tx, kind: HostKind, ownerId: string, hosts: string[], seconds: number, now: Date): Promise<void> {
  const ids = [...new Set(hosts)].sort();
  if (ids.length === 0) return;
  const records = await readRecords(tx.sql, ids);
  const until = new Date(now.getTime() + seconds * 1000);
  for (const id of ids.filter((h) => takesProbation(records.get(h)))) {
    await tx.sql.run(sql`
      INSERT INTO "validation_records" ("id", "owner_id", "kind", "valid_streak", "valid", "invalid", "recent", "reputation", "trusted",
        "quarantines", "probation_until", "created_at", "updated_at")
      VALUES (${id}, ${ownerId}, ${kind}, 0, 0, 0, '', ${NEW_VALIDATION_RECORD.reputation}, ${false}, 0, ${until}, ${now}, ${now})
      ON CONFLICT ("id") DO UPDATE SET "probation_until" = excluded."probation_until", "updated_at" = excluded."updated_at"`);
  }
}

/**
 * Hosts that may run work under `adaptive` get a record (never validated) before their first claim, if they have
 * none: from then on the claim statement holds a never-validated host to one unchecked subtask of its own at a time,
 * even before its first result arrives (a worker posts a result while it claims its next).
 */
export async function enrollHosts(tx: Tx, kind: HostKind, ownerId: string, hosts: string[], now: Date): Promise<void> {
  const enrolling = enrollment(kind, ownerId, hosts, now);
  if (enrolling) await tx.sql.run(enrolling);
}

/** enrollHosts' statement (null for no hosts), for a caller that writes it with others in one statement. */
export function enrollment(kind: HostKind, ownerId: string, hosts: string[], now: Date): Query | null {
  const ids = [...new Set(hosts)].sort();
  if (ids.length === 0) return null;
  return sql`
    INSERT INTO "validation_records" ("id", "owner_id", "kind", "valid_streak", "valid", "invalid", "recent", "reputation", "trusted",
      "quarantines", "created_at", "updated_at")
    VALUES ${join(ids.map((id) => sql`(${id}, ${ownerId}, ${kind}, 0, 0, 0, '', ${NEW_VALIDATION_RECORD.reputation}, ${false}, 0, ${now}, ${now})`))}
    ON CONFLICT ("id") DO NOTHING`;
}

/** Those of these hosts with a result still awaiting its check (read after this decision's own validation writes). */
async function awaitingChecks(db: Sql, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.all<{ assignee_id: string }>(sql`
    SELECT DISTINCT "assignee_id" FROM "subtasks"
    WHERE "assignee_id" ${inList(ids)} AND "status" = 'completed' AND "validation" = 'pending'`);
  return new Set(rows.map((r) => r.assignee_id));
}

/**
 * Probation ends for these hosts (their result was decided without a check: inconclusive) unless another result of
 * theirs still awaits its check; each it ends for is woken to claim.
 */
export async function endProbation(tx: Tx, work: WorkEngine, hosts: string[], now: Date): Promise<void> {
  const unique = [...new Set(hosts)];
  const waiting = await awaitingChecks(tx.sql, unique);
  const ids = unique.filter((id) => !waiting.has(id)).sort();
  if (ids.length === 0) return;
  const ended = await tx.sql.all<{ id: string }>(sql`
    UPDATE "validation_records" SET "probation_until" = NULL, "updated_at" = ${now}
    WHERE "id" ${inList(ids)} AND "probation_until" IS NOT NULL RETURNING "id"`);
  work.wake(
    tx,
    ended.map((r) => r.id),
  );
}

/** What a batch of checks did: hosts it quarantined, trusted hosts it caught with an invalid result, and hosts it made trusted. */
export interface CheckedHosts {
  quarantined: string[];
  caught: string[];
  trusted: string[];
  valid: number;
  invalid: number;
}

/** Where the checks were made, for the audit entry of a quarantine. */
export interface CheckSource {
  execution_id?: string;
  task_id?: string;
}

/**
 * Checked results, each host's in the order they were decided (true: valid),
 * written in host id order (two transactions checking the same hosts take
 * their rows in the same order). A member's reputation is its swarm
 * reputation; an agent's is on its record. A host this quarantines gets an
 * audit entry, and once this commits its open work moves to other hosts.
 */
export async function recordChecks(
  tx: Tx,
  { db, work }: { db: Database; work: WorkEngine },
  kind: HostKind,
  ownerId: string,
  checks: Map<string, boolean[]>,
  settings: Pick<VerificationSettings, 'trust_after' | 'quarantine_after' | 'quarantine_seconds'>,
  source: CheckSource,
  now: Date,
  /** false: the results' consensus already moved the members' reputations. */
  options: { reputation: boolean } = { reputation: true },
): Promise<CheckedHosts> {
  const out: CheckedHosts = { quarantined: [], caught: [], trusted: [], valid: 0, invalid: 0 };
  const ids = [...checks.keys()].sort();
  if (ids.length === 0) return out;
  const records = await readRecords(tx.sql, ids);
  const onProbation: string[] = [];
  const reputations =
    kind === 'member'
      ? new Map(
          (
            await tx.sql.all<{ member_id: string; reputation: unknown }>(
              sql`SELECT "member_id", "reputation" FROM "swarm_members" WHERE "member_id" ${inList(ids)}`,
            )
          ).map((m) => [m.member_id, Number(m.reputation)]),
        )
      : new Map<string, number>();
  // Each host's record after these checks, in the order they were decided.
  const next = new Map<string, ValidationRecord>();
  for (const id of ids) {
    const stored = records.get(id);
    let record: ValidationRecord = { ...NEW_VALIDATION_RECORD, ...(stored ?? {}) };
    if (kind === 'member') record.reputation = reputations.get(id) ?? record.reputation;
    for (const valid of checks.get(id)!) {
      const checked = recordChecked(record, valid, settings, now);
      record = checked.record;
      if (valid) out.valid++;
      else out.invalid++;
      if (checked.caught && !out.caught.includes(id)) out.caught.push(id);
      if (checked.quarantined) out.quarantined.push(id);
    }
    next.set(id, record);
  }
  // A host on probation that still takes it (never validated, or doubted) stays on it while another result of its
  // awaits its check: an invalid one alone does not end it (a host only ever wrong would otherwise hand in its next
  // result at once).
  const waiting = await awaitingChecks(
    tx.sql,
    ids.filter((id) => records.get(id)?.probationUntil && takesProbation(next.get(id))),
  );
  for (const id of ids) {
    const stored = records.get(id);
    const record = next.get(id)!;
    const trusted = isTrusted(record, settings.trust_after, now);
    if (trusted && !(stored && isTrusted(stored, settings.trust_after, now))) out.trusted.push(id);
    // A checked result ends probation, or lets it take its next checking copy (woken to claim once this commits).
    if (stored?.probationUntil) onProbation.push(id);
    const probationUntil = waiting.has(id) ? stored!.probationUntil : null;
    await tx.sql.run(sql`
      INSERT INTO "validation_records" ("id", "owner_id", "kind", "valid_streak", "valid", "invalid", "recent", "reputation", "trusted",
        "quarantined_at", "quarantined_until", "quarantines", "probation_until", "trusted_run", "created_at", "updated_at")
      VALUES (${id}, ${ownerId}, ${kind}, ${record.validStreak}, ${record.valid}, ${record.invalid}, ${record.recent}, ${record.reputation},
        ${trusted}, ${record.quarantinedAt}, ${record.quarantinedUntil}, ${record.quarantines}, ${probationUntil}, 0, ${now}, ${now})
      ON CONFLICT ("id") DO UPDATE SET "valid_streak" = excluded."valid_streak", "valid" = excluded."valid", "invalid" = excluded."invalid",
        "recent" = excluded."recent", "reputation" = excluded."reputation", "trusted" = excluded."trusted",
        "quarantined_at" = excluded."quarantined_at", "quarantined_until" = excluded."quarantined_until",
        "quarantines" = excluded."quarantines", "probation_until" = excluded."probation_until", "trusted_run" = 0,
        "updated_at" = excluded."updated_at"`);
    if (kind === 'member' && options.reputation)
      await tx.sql.run(
        sql`UPDATE "swarm_members" SET "reputation" = ${record.reputation}, "updated_at" = ${now} WHERE "member_id" = ${id}`,
      );
    if (out.quarantined.includes(id))
      await audit(tx, SERVER_ACTOR, {
        action: 'host.quarantine',
        owner_id: ownerId,
        target_id: id,
        detail: {
          kind,
          reason: `${settings.quarantine_after} of its last checked results were invalid`,
          until: record.quarantinedUntil?.toISOString() ?? null,
          ...source,
        },
      });
  }
  work.wake(
    tx,
    onProbation.filter((id) => !out.quarantined.includes(id)),
  );
  const { quarantined, valid, invalid } = out;
  tx.afterCommit(async () => {
    work.outcomes.verification.invalid += invalid;
    work.outcomes.verification.checked += valid + invalid;
    work.outcomes.verification.quarantined += quarantined.length;
    // No more work for a quarantined host: what it holds moves to other hosts (its leases are cancelled).
    for (const id of quarantined)
      await db.transaction((t) =>
        work.releaseAllOf(t, id, 'cancelled', `host ${id} was quarantined: its results kept failing validation`, now),
      );
  });
  return out;
}

/**
 * The work engine: claims, lease extension, results and failures, releasing
 * work, and the sweep. It knows subtasks and their claim attempts, nothing
 * of networks or swarms: what a subtask belongs to is a WorkParent
 * (work/parent.ts), registered by kind, and the statements it runs are
 * handed to it (work/sql/).
 *
 * Fencing. A lease holds while now < lease_expires_at. A heartbeat, result
 * or failure under a lease that has run out is refused as LEASE_EXPIRED,
 * whether or not the sweep has handed the subtask on yet (Amazon SQS's rule
 * for a message whose visibility timeout passed); the sweep releases a lease
 * only if it is still expired when it does, so a lease extended meanwhile
 * is left alone.
 */
import { createHash } from 'node:crypto';
import {
  type ClaimedSubtask,
  canonicalJson,
  findStragglers,
  type LeaseView,
  type Refusal,
  type ReportedOutcome,
  resultProblem,
} from '@aitbc/core';
import type { Clock } from '../clock.ts';
import type { Database, Tx } from '../db/database.ts';
import type { Sql } from '../db/sql.ts';
import { conflict, DomainError, notFound } from '../errors.ts';
import type { EventBus, ServerEvent } from '../events.ts';
import type { BackupCounts, EndedAttempt, OpenParent, ParentDescription, ParentKind, Takeable, WorkParent, WorkParents } from './parent.ts';
import { parentOf } from './parent.ts';
import type { EndedAttemptRow } from './sql/attempts.ts';
import type { WorkSql } from './sql/index.ts';
import type { NewSubtask } from './sql/insert.ts';
import type { SubtaskRun } from './sql/stragglers.ts';
import type { ParentRef } from './sql/cancel.ts';
import type { MovedFrom } from './sql/move.ts';
import { openLoad } from './open-work.ts';
import { Outcomes } from './outcomes.ts';
import type { SubtaskRow } from './subtasks.ts';
import type { Waiters } from './waiters.ts';
import type { Attributes } from '@opentelemetry/api';
import { TRACING_OFF, type Tracing } from '../tracing.ts';

/** Who claims: an agent (network work) or a swarm member (swarm work). */
export type Assignee = { kind: 'agent' | 'member'; id: string };

/** Signs of life: a claim, a lease heartbeat or a result says its agent or member is alive. */
export interface Presence {
  /** Throws not_found when it is not the caller's, conflict when it can take no work (a member that left). */
  seen(ownerId: string, who: Assignee, now: Date): Promise<void>;
}

/** A refused lease or outcome, as the batch answers say it and the single calls throw it. */
export interface Refused {
  refusal: Refusal;
  message: string;
}

export type LeaseState =
  | { subtask_id: string; lease_id: string; held: true; lease_expires_at: string; refusal: null; message: null }
  | { subtask_id: string; lease_id: string; held: false; lease_expires_at: null; refusal: Refusal; message: string };

export interface OutcomeState {
  subtask_id: string;
  lease_id: string;
  status: 'recorded' | 'already_recorded' | 'refused';
  refusal: Refusal | null;
  message: string | null;
}

export interface ClaimOptions {
  max: number;
  leaseSeconds?: number | undefined;
  /** Long poll: wait up to this long for work when none is waiting. */
  waitSeconds?: number | undefined;
  /** Ends a long poll early (the client went away). */
  signal?: AbortSignal | undefined;
}

/** The key replicas and repeated posts are compared by: equal results have equal keys. */
export function resultKey(result: unknown): string {
  return createHash('sha256').update(canonicalJson(result)).digest('hex');
}

/** Rows one sweep pass handles; the next pass (a second later) takes the rest. */
const SWEEP_BATCH = 100;
/** Parents known to be started (claims skip marking them again); bounded. */
const STARTED_MEMORY = 10_000;
/** Most assignees one work.assigned event names (events/NOTIFY sizes). */
const WAKE_CHUNK = 150;

const seconds = (from: Date, to: Date) => Math.max(0, (to.getTime() - from.getTime()) / 1000);

/** An idle long poll looks for stragglers again at least this far apart. */
const RECHECK_MIN_MS = 50;
/** …and a claimant still running work of its own, or whose parents are not far enough along to judge, this far apart. */
const BUSY_RECHECK_MS = 1000;
const WATCH_MS = 1000;
/** How long a parent's runs, read for speculation, are reused. */
const RUNS_FRESH_MS = 100;
/** How long the parents an assignee may take work from are reused. */
const OPEN_FRESH_MS = 250;

/** A backup copy of the subtask runs (speculation), its lease not run out. */
const backupRunning = (s: SubtaskRow, now: Date) =>
  s.status === 'leased' && s.backupLeaseId !== null && (s.backupLeaseExpiresAt?.getTime() ?? 0) > now.getTime();

/** Steal attempts a claim makes when other thieves took the candidates it read. */
const STEAL_ROUNDS = 3;
/** Candidates read per subtask wanted: thieves pick at random among them, so those arriving together rarely collide. */
const STEAL_POOL = 16;

function shuffled<T>(items: T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** One candidate per subtask (parent, seq): a thief never takes two replicas of one subtask. */
function onePerSubtask(candidates: Takeable[]): string[] {
  const seen = new Set<string>();
  return candidates.flatMap((c) => {
    const key = `${c.parentId}\n${c.seq}`;
    if (seen.has(key)) return [];
    seen.add(key);
    return [c.id];
  });
}

/** Refusals a single-item call turns into an error: NOT_FOUND is a 404, the rest 409s. */
export function refusalError(r: Refused): DomainError {
  return r.refusal === 'NOT_FOUND' ? notFound(r.message) : conflict(r.message);
}

export interface WorkEngineDeps {
  /** The time leases are stamped and checked by: the database's on PostgreSQL (clock.ts). */
  clock: Clock;
  db: Database;
  sql: WorkSql;
  presence: Presence;
  events: EventBus;
  waiters: Waiters;
  /** Spans for claims, results and sweeps, under each task's trace (off unless an OTLP endpoint is set). */
  tracing?: Tracing;
}

export class WorkEngine {
  private readonly parents: Partial<WorkParents> = {};
  private readonly startedParents = new Set<string>();
  /** What this process ended and decided, for /metrics. */
  readonly outcomes = new Outcomes();
  private closed = false;
  /** The parents each assignee may take others' work from, as last read (see openTo). */
  private readonly openParents = new Map<string, { at: number; open: OpenParent[] }>();
  /** Parents' subtask runs as speculation last read them (see runsOf). */
  private readonly runs = new Map<string, { at: number; runs: SubtaskRun[] }>();

  readonly tracing: Tracing;

  constructor(private readonly deps: WorkEngineDeps) {
    this.tracing = deps.tracing ?? TRACING_OFF;
  }

  /** A kind of parent plugs in (server.ts registers executions and coordinations). */
  register(kind: ParentKind, parent: WorkParent): void {
    this.parents[kind] = parent;
  }

  private parent(kind: ParentKind): WorkParent {
    const parent = this.parents[kind];
    if (!parent) throw new Error(`no work parent registered for ${kind}`);
    return parent;
  }

  private parentOfRow(s: SubtaskRow): { kind: ParentKind; id: string; parent: WorkParent } {
    const of = parentOf(s);
    if (!of) throw new Error(`subtask ${s.id} has no parent`);
    return { ...of, parent: this.parent(of.kind) };
  }

  // ------------------------------------------------------------------ claims

  /**
   * Up to `max` of the assignee's subtasks, leased to the caller. With
   * `waitSeconds`, an empty claim waits (without touching the database)
   * until work is assigned to it, the wait ends, or the server closes.
   */
  async claim(ownerId: string, who: Assignee, options: ClaimOptions): Promise<ClaimedSubtask[]> {
    await this.deps.presence.seen(ownerId, who, new Date());
    const wait = options.waitSeconds ?? 0;
    // Watch first: an assignment between an empty claim and the wait must still wake it.
    const watch = wait > 0 ? this.deps.waiters.watch(who.id) : null;
    try {
      const deadline = Date.now() + wait * 1000;
      // Woken by an event (new work): a full claim. Woken by the clock (a straggler's threshold): backups only, as
      // nothing new was assigned meanwhile; that look reads nothing while the parents' runs are fresh (runsOf).
      let backupsOnly = false;
      for (;;) {
        const { claimed, recheckAt } = await this.claimNow(ownerId, who, options.max, options.leaseSeconds, backupsOnly);
        if (claimed.length > 0 || !watch) return claimed;
        const until = recheckAt === null ? deadline : Math.min(deadline, Math.max(recheckAt, Date.now() + RECHECK_MIN_MS));
        const woken = await watch.next(until, options.signal);
        if (!woken && (until >= deadline || options.signal?.aborted || this.closed || watch.interrupted)) return claimed;
        backupsOnly = !woken;
      }
    } finally {
      watch?.dispose();
    }
  }

  private async claimNow(
    ownerId: string,
    who: Assignee,
    max: number,
    leaseSeconds: number | undefined,
    backupsOnly = false,
  ): Promise<{ claimed: ClaimedSubtask[]; recheckAt: number | null }> {
    const now = new Date();
    const own = backupsOnly
      ? []
      : await this.deps.db.transaction((tx) =>
          this.deps.sql.claimSubtasks(tx.sql, { ownerId, assigneeId: who.id, max, leaseSeconds, now }),
        );
    // Nothing of its own waiting: take others' unclaimed work, else back up a straggler.
    const taken =
      own.length > 0
        ? { rows: own, backups: new Set<string>(), recheckAt: null }
        : await this.takeFromOthers(ownerId, who, max, leaseSeconds, now, !backupsOnly);
    this.traceWork(taken.backups.size ? 'claim backup' : 'claim', taken.rows, now);
    return { claimed: await this.handOut(taken.rows, taken.backups, now), recheckAt: taken.recheckAt };
  }

  /**
   * One span per task these subtasks belong to, under that task's trace and
   * linked to the current request's span (tracing on only; never delays the
   * caller). Attributes: the task's ids, the subtasks and who holds them.
   */
  traceWork(name: string, rows: SubtaskRow[], start: Date, attributes: Attributes = {}): void {
    if (!this.tracing.enabled || rows.length === 0) return;
    for (const [kind, ids] of this.idsByKind(rows)) {
      this.traceTasks(name, kind, ids, start, (id) => {
        const mine = rows.filter((r) => parentOf(r)?.id === id);
        const holders = [...new Set(mine.flatMap((r) => (r.assigneeId ? [r.assigneeId] : [])))];
        return {
          'aitbc.subtask_ids': mine.map((r) => r.id),
          [kind === 'execution' ? 'aitbc.agent_ids' : 'aitbc.member_ids']: holders,
          ...attributes,
        };
      });
    }
  }

  /** A span for each of these tasks (executions or coordinations), under the task's own trace. */
  traceTasks(name: string, kind: ParentKind, ids: string[], start: Date, attributes: (id: string) => Attributes): void {
    if (!this.tracing.enabled || ids.length === 0) return;
    const parent = this.parent(kind);
    const spans = this.deps.db.run(async (_, sql) => {
      const [traces, about] = await Promise.all([parent.traceParents(sql, ids), parent.describe(sql, ids, false)]);
      for (const id of ids) {
        const d = about.get(id);
        const task = d?.task_id ? { 'aitbc.task_id': d.task_id, 'aitbc.swarm_id': d.swarm_id ?? '' } : {};
        const execution = d?.execution_id ? { 'aitbc.execution_id': d.execution_id, 'aitbc.network_id': d.network_id ?? '' } : {};
        this.tracing.record(name, { ...task, ...execution, ...attributes(id) }, start, traces.get(id) ?? null);
      }
    });
    spans.catch(() => {});
  }

  /** Claimed rows as the claimant gets them (`backups`: the ids it holds a backup copy of). */
  private async handOut(rows: SubtaskRow[], backups: Set<string>, now: Date): Promise<ClaimedSubtask[]> {
    if (rows.length === 0) return [];
    // Marked started after the claim committed: a claim locks only subtasks, never their parents.
    const fresh = rows.filter((s) => !this.startedParents.has(parentOf(s)!.id));
    if (fresh.length > 0) await this.deps.db.run((_, sql) => this.markStarted(sql, fresh, now));
    const about = await this.deps.db.run((_, sql) => this.describe(sql, rows));
    return rows.map((s) => {
      const parent = about.get(parentOf(s)!.id);
      const backup = backups.has(s.id);
      return {
        subtask_id: s.id,
        lease_id: backup ? s.backupLeaseId! : s.leaseId!,
        lease_expires_at: (backup ? s.backupLeaseExpiresAt! : s.leaseExpiresAt!).toISOString(),
        execution_id: parent?.execution_id ?? null,
        network_id: parent?.network_id ?? null,
        task_id: parent?.task_id ?? null,
        swarm_id: parent?.swarm_id ?? null,
        seq: s.seq,
        replica: s.replica,
        attempt: s.attempts,
        backup,
        payload: s.payload,
        requires: (s.requires as string[] | null) ?? [],
      };
    });
  }

  /**
   * Work stealing, then speculation (README "Stragglers"), for an assignee
   * with nothing of its own waiting. Steals: unclaimed subtasks of its live
   * parents that allow it, which the parent's rules let it take, claimed as
   * its own. Else backups: running stragglers of parents that allow them,
   * each given a second lease beside the first. `recheckAt`: when a running
   * subtask will next cross its straggler threshold (an idle long poll
   * looks again then).
   */
  private async takeFromOthers(
    ownerId: string,
    who: Assignee,
    max: number,
    leaseSeconds: number | undefined,
    now: Date,
    steal = true,
  ): Promise<{ rows: SubtaskRow[]; backups: Set<string>; recheckAt: number | null }> {
    const { db, sql } = this.deps;
    const none = { rows: [], backups: new Set<string>(), recheckAt: null };
    const kind: ParentKind = who.kind === 'agent' ? 'execution' : 'coordination';
    const parent = this.parent(kind);
    const open = await this.openTo(parent, ownerId, who.id, now);
    if (open.length === 0) return none;

    const stealing = steal ? open.filter((p) => p.stealing).map((p) => p.id) : [];
    // Thieves that read the same candidates race for them: a thief that lost every race reads again.
    for (let round = 0; stealing.length > 0 && round < STEAL_ROUNDS; round++) {
      const found = await db.run(async (_, q) => {
        const candidates = await sql.stealCandidates(q, { ownerId, thiefId: who.id, kind, parentIds: stealing, limit: max * STEAL_POOL });
        return candidates.length ? parent.mayTake(q, who.id, candidates, open, now) : [];
      });
      // A random pick among them, so that thieves arriving together mostly take different ones.
      const ids = onePerSubtask(shuffled(found)).slice(0, max);
      if (ids.length === 0) break;
      const stolen = await db.transaction((tx) => sql.claimSubtasks(tx.sql, { ownerId, assigneeId: who.id, ids, max, leaseSeconds, now }));
      if (stolen.length > 0) {
        this.outcomes.stolen += stolen.length;
        return { ...none, rows: stolen };
      }
    }

    // Only parents past their quantile by their counters: the others' subtasks are not read.
    const speculating = open.filter((p) => p.speculation !== null && p.decidedShare >= p.speculation.quantile);
    if (speculating.length === 0) return { ...none, recheckAt: open.some((p) => p.speculation) ? now.getTime() + WATCH_MS : null };
    const runs = await this.runsOf(
      kind,
      speculating.map((p) => p.id),
      now,
    );
    const stragglers: Takeable[] = [];
    let nextIn: number | null = null;
    for (const p of speculating) {
      const mine = runs.filter((r) => r.parentId === p.id && r.status !== 'failed');
      // Never a copy of a subtask it already runs (its own, a replica of it, or a backup).
      const held = new Set(mine.filter((r) => r.assigneeId === who.id || r.backupAssigneeId === who.id).map((r) => r.seq));
      const found = findStragglers(
        mine.map((r) => ({
          id: r.id,
          state: r.status === 'completed' ? 'finished' : r.status === 'leased' ? 'running' : 'waiting',
          seconds: r.startedAt ? seconds(r.startedAt, r.status === 'completed' && r.completedAt ? r.completedAt : now) : 0,
          backedUp: r.backupRunning || held.has(r.seq),
        })),
        p.speculation!,
      );
      const byId = new Map(mine.map((r) => [r.id, r]));
      stragglers.push(...found.ids.map((id) => byId.get(id)!));
      if (found.nextInSeconds !== null) nextIn = Math.min(nextIn ?? found.nextInSeconds, found.nextInSeconds);
    }
    const recheckAt = nextIn === null ? null : now.getTime() + nextIn * 1000;
    if (stragglers.length === 0) return { ...none, recheckAt };
    // Only an idle assignee runs a backup: one still running work of its own (a worker with free slots) looks again later.
    if (((await db.run((_, q) => openLoad(q, [who.id]))).get(who.id) ?? 0) > 0)
      return { ...none, recheckAt: now.getTime() + BUSY_RECHECK_MS };
    const allowed = await db.run((_, q) => parent.mayTake(q, who.id, stragglers, open, now));
    // One backup a claim, the worst straggler first: a worker with many free slots must not copy a batch of work
    // another worker merely holds (it claims again for the next).
    const ids = onePerSubtask(allowed).slice(0, 1);
    if (ids.length === 0) return { ...none, recheckAt };
    const started = await db.transaction(async (tx) => {
      const parents = [...new Set(allowed.filter((t) => ids.includes(t.id)).map((t) => t.parentId))].sort();
      // Lock order: the parents, then their subtasks.
      await parent.lock(tx, parents, true, now);
      const rows = await sql.startBackups(tx.sql, { ownerId, assigneeId: who.id, ids, leaseSeconds, now });
      for (const id of parents) {
        const launched = rows.filter((s) => parentOf(s)!.id === id).length;
        if (launched > 0) await parent.backups(tx, id, { launched, won: 0, secondsSaved: 0 });
      }
      tx.afterCommit(() => {
        this.outcomes.backups.launched += rows.length;
      });
      return rows;
    });
    return { rows: started, backups: new Set(started.map((s) => s.id)), recheckAt };
  }

  /**
   * The parents an assignee may take others' work from, read at most once per OPEN_FRESH_MS per assignee on this
   * instance (an idle worker's claims come in bursts, one per freed slot). New work clears the entries of those it
   * wakes here (another instance's expire), and a parent read stale only costs a statement: what is taken is taken
   * conditionally.
   */
  private async openTo(parent: WorkParent, ownerId: string, who: string, now: Date): Promise<OpenParent[]> {
    const known = this.openParents.get(who);
    if (known && known.at + OPEN_FRESH_MS > now.getTime()) return known.open;
    const open = await this.deps.db.run((_, q) => parent.openTo(q, ownerId, who, now));
    if (this.openParents.size >= STARTED_MEMORY) this.openParents.clear();
    // Nothing open is not kept: the first work of a new parent must be seen at once.
    if (open.length > 0) this.openParents.set(who, { at: now.getTime(), open });
    else this.openParents.delete(who);
    return open;
  }

  /**
   * Parents' subtask runs for speculation, read at most once per RUNS_FRESH_MS per parent on this instance: idle
   * claimants arriving together share one read (what they then start is conditional, so a stale read is safe).
   */
  private async runsOf(kind: ParentKind, ids: string[], now: Date): Promise<SubtaskRun[]> {
    const stale = ids.filter((id) => (this.runs.get(id)?.at ?? 0) + RUNS_FRESH_MS <= now.getTime());
    if (stale.length > 0) {
      const read = await this.deps.db.run((_, q) => this.deps.sql.parentRuns(q, kind, stale));
      if (this.runs.size >= STARTED_MEMORY) this.runs.clear();
      for (const id of stale) this.runs.set(id, { at: now.getTime(), runs: read.filter((r) => r.parentId === id) });
    }
    return ids.flatMap((id) => this.runs.get(id)?.runs ?? []);
  }

  private async markStarted(sql: Sql, rows: SubtaskRow[], now: Date): Promise<void> {
    for (const [kind, ids] of this.idsByKind(rows)) {
      await this.parent(kind).started(sql, ids, now);
      if (this.startedParents.size >= STARTED_MEMORY) this.startedParents.clear();
      for (const id of ids) this.startedParents.add(id);
    }
  }

  private async describe(
    sql: Sql,
    rows: Pick<SubtaskRow, 'executionId' | 'coordinationId'>[],
    withStatus = false,
  ): Promise<Map<string, ParentDescription>> {
    const about = new Map<string, ParentDescription>();
    for (const [kind, ids] of this.idsByKind(rows))
      for (const [id, d] of await this.parent(kind).describe(sql, ids, withStatus)) about.set(id, d);
    return about;
  }

  private idsByKind(rows: Pick<SubtaskRow, 'executionId' | 'coordinationId'>[]): Map<ParentKind, string[]> {
    const ids = new Map<ParentKind, Set<string>>();
    for (const s of rows) {
      const of = parentOf(s);
      if (!of) continue;
      const set = ids.get(of.kind) ?? new Set<string>();
      ids.set(of.kind, set);
      set.add(of.id);
    }
    return new Map([...ids].map(([kind, set]) => [kind, [...set].sort()]));
  }

  // ------------------------------------------------------------------ leases

  /** Extend every listed lease the caller still holds; each lease is answered on its own. */
  async extend(
    ownerId: string,
    leases: { subtask_id: string; lease_id: string }[],
    leaseSeconds: number | undefined,
  ): Promise<LeaseState[]> {
    const now = new Date();
    const unique = [...new Map(leases.map((l) => [`${l.subtask_id}\n${l.lease_id}`, l])).values()];
    const extended = await this.deps.db.run((_, sql) => this.deps.sql.extendLeases(sql, ownerId, unique, leaseSeconds, now));
    // By subtask and lease: a subtask's first copy and its backup are two leases.
    const held = new Map(extended.map((e) => [`${e.subtaskId}\n${e.leaseId}`, e]));
    const byLease = (l: { subtask_id: string; lease_id: string }) => held.get(`${l.subtask_id}\n${l.lease_id}`);
    await this.sawAssignees(ownerId, extended, now);
    const missing = unique.filter((l) => byLease(l) === undefined);
    const why = missing.length ? await this.deps.db.run((_, sql) => this.refusals(sql, ownerId, missing, now)) : new Map<string, Refused>();
    return leases.map((l) => {
      const e = byLease(l);
      if (e) return { ...l, held: true, lease_expires_at: e.leaseExpiresAt.toISOString(), refusal: null, message: null };
      const refused = why.get(`${l.subtask_id}\n${l.lease_id}`)!;
      return { ...l, held: false, lease_expires_at: null, ...refused };
    });
  }

  /**
   * Who holds each of these leases, by subtask and lease id: the first copy's
   * assignee or the backup's. A lease that is not held by anyone here is
   * absent (the work calls answer it themselves).
   */
  async leaseHolders(ownerId: string, leases: { subtask_id: string; lease_id: string }[]): Promise<Map<string, Assignee>> {
    const ids = [...new Set(leases.map((l) => l.subtask_id))];
    const rows = ids.length ? await this.deps.db.run((_, sql) => this.deps.sql.readSubtasks(sql, ownerId, ids)) : [];
    const holders = new Map<string, Assignee>();
    for (const s of rows) {
      const kind = parentOf(s)?.kind === 'execution' ? 'agent' : 'member';
      if (s.leaseId && s.assigneeId) holders.set(`${s.id}\n${s.leaseId}`, { kind, id: s.assigneeId });
      if (s.backupLeaseId && s.backupAssigneeId) holders.set(`${s.id}\n${s.backupLeaseId}`, { kind, id: s.backupAssigneeId });
    }
    return holders;
  }

  /** Lease heartbeats and results are signs of life of whoever holds the work. */
  private async sawAssignees(ownerId: string, rows: { assigneeId: string | null; kind: Assignee['kind'] }[], now: Date): Promise<void> {
    const seen = new Map(rows.flatMap((r) => (r.assigneeId ? [[r.assigneeId, r.kind] as const] : [])));
    for (const [id, kind] of seen) {
      // A member that left may still post what it finished: only its own refusal is ignored.
      await this.deps.presence.seen(ownerId, { kind, id }, now).catch((error: unknown) => {
        if (!(error instanceof DomainError)) throw error;
      });
    }
  }

  /** Why each of these leases is not held (any more), by subtask and lease id. */
  private async refusals(
    sql: Sql,
    ownerId: string,
    leases: { subtask_id: string; lease_id: string }[],
    now: Date,
  ): Promise<Map<string, Refused>> {
    const rows = new Map(
      (await this.deps.sql.readSubtasks(sql, ownerId, [...new Set(leases.map((l) => l.subtask_id))])).map((s) => [s.id, s]),
    );
    const attempts = await this.deps.sql.attemptOutcomes(
      sql,
      leases.filter((l) => rows.get(l.subtask_id)?.leaseId !== l.lease_id).map((l) => l.lease_id),
    );
    const why = new Map<string, Refused>();
    for (const { subtask_id: id, lease_id: lease } of leases) {
      const s = rows.get(id);
      const held = `Lease ${lease} on subtask ${id}`;
      const attempt = attempts.get(lease);
      const expired =
        (s?.leaseId === lease && s.status === 'leased' && s.leaseExpiresAt! <= now) ||
        (s?.backupLeaseId === lease && s.status === 'leased' && (s.backupLeaseExpiresAt?.getTime() ?? 0) <= now.getTime()) ||
        (attempt?.subtaskId === id && attempt.outcome === 'expired');
      const beaten = s?.status === 'completed' && s.backupLeaseId === lease && attempt?.outcome === 'cancelled';
      why.set(
        `${id}\n${lease}`,
        !s
          ? { refusal: 'NOT_FOUND', message: `Subtask ${id} not found` }
          : expired
            ? {
                refusal: 'LEASE_EXPIRED',
                message: `${held} has expired: a heartbeat or outcome after the lease ran out is refused, and the subtask goes back to the queue`,
              }
            : beaten
              ? {
                  refusal: 'CANCELLED',
                  message: `${held} is no longer held: another copy of the subtask (a backup) finished first, so this copy's work is not needed`,
                }
              : s.status === 'cancelled' || (attempt?.subtaskId === id && attempt.outcome === 'cancelled')
                ? {
                    refusal: 'CANCELLED',
                    message: `${held} is no longer held: it was cancelled (its execution or task was cancelled or already decided)`,
                  }
                : s.leaseId === lease
                  ? { refusal: 'LEASE_LOST', message: `${held} is no longer held: it is already ${s.status}` }
                  : {
                      refusal: 'LEASE_LOST',
                      message:
                        attempt?.subtaskId === id
                          ? `${held} is no longer held: its ${attempt.outcome === 'failed' ? 'failure was reported and it was handed on' : 'attempt ended'}`
                          : `${held} is no longer held: it was handed to another claim`,
                    },
      );
    }
    return why;
  }

  /** A subtask's lease as it stands now (the single-item calls answer with it). */
  async leaseView(ownerId: string, subtaskId: string): Promise<LeaseView> {
    return this.deps.db.run(async (_, sql) => {
      const [s] = await this.deps.sql.readSubtasks(sql, ownerId, [subtaskId]);
      if (!s) throw notFound(`Subtask ${subtaskId} not found`);
      const about = (await this.describe(sql, [s], true)).get(parentOf(s)?.id ?? '');
      return {
        subtask_id: s.id,
        status: s.status as LeaseView['status'],
        lease_expires_at: s.leaseExpiresAt?.toISOString() ?? null,
        execution_id: about?.execution_id ?? null,
        network_id: about?.network_id ?? null,
        execution_status: s.executionId ? ((about?.status ?? 'running') as LeaseView['execution_status']) : null,
        task_id: about?.task_id ?? null,
        swarm_id: about?.swarm_id ?? null,
        task_status: s.coordinationId ? (about?.status ?? null) : null,
      };
    });
  }

  // ------------------------------------------------------------------ outcomes

  /**
   * Results and failures, in one transaction, each answered on its own:
   * recorded, already recorded (the same result posted again under the same
   * lease), or refused with the reason. One bad item never refuses the others.
   */
  async record(ownerId: string, items: ReportedOutcome[]): Promise<OutcomeState[]> {
    const now = new Date();
    const invalid = new Map<number, string>();
    items.forEach((item, i) => {
      const problem = 'result' in item ? resultProblem(item.result) : null;
      if (problem) invalid.set(i, `Invalid input: result: ${problem}`);
    });
    const answers = await this.deps.db.transaction((tx) => this.recordIn(tx, ownerId, items, invalid, now));
    return answers;
  }

  private async recordIn(
    tx: Tx,
    ownerId: string,
    items: ReportedOutcome[],
    invalid: Map<number, string>,
    now: Date,
  ): Promise<OutcomeState[]> {
    const { sql } = this.deps;
    const valid = items.filter((_, i) => !invalid.has(i));
    const rows = await sql.readSubtasks(tx.sql, ownerId, [...new Set(valid.map((item) => item.subtask_id))]);
    const failures = valid.filter((item): item is Extract<ReportedOutcome, { error: string }> => 'error' in item);
    // Lock order: the parents' locks before any of their subtasks changes (a backup copy decided moves its parent's counters).
    const backedUp = rows.some((s) => backupRunning(s, now));
    for (const [kind, ids] of this.idsByKind(rows)) await this.parent(kind).lock(tx, ids, failures.length > 0 || backedUp, now);

    const keyed = valid.flatMap((item) => ('result' in item ? [{ item, key: resultKey(item.result) }] : []));
    // A subtask listed twice is recorded once; the second is answered as already recorded or refused.
    const firstOf = new Map<string, (typeof keyed)[number]>();
    for (const k of keyed) if (!firstOf.has(k.item.subtask_id)) firstOf.set(k.item.subtask_id, k);
    const completed = await sql.completeSubtasks(
      tx.sql,
      ownerId,
      [...firstOf.values()].map(({ item, key }) => ({
        subtaskId: item.subtask_id,
        leaseId: item.lease_id,
        result: item.result,
        resultKey: key,
      })),
      now,
    );
    const recorded = new Set(completed.map((s) => `${s.id}\n${s.leaseId}`));
    const failed = new Map<string, SubtaskRow>();
    const failedLeases = new Set<string>();
    for (const item of failures) {
      const s = rows.find((r) => r.id === item.subtask_id);
      if (s?.status !== 'leased' || failed.has(s.id)) continue;
      const released =
        s.leaseId === item.lease_id && s.leaseExpiresAt! > now
          ? await this.release(tx, s, { status: 'leased', leaseId: item.lease_id }, item.error, 'failed', now)
          : s.backupLeaseId === item.lease_id && backupRunning(s, now)
            ? await this.dropBackup(tx, s, item.error, 'failed', now)
            : false;
      if (released) {
        failed.set(s.id, s);
        failedLeases.add(`${s.id}\n${item.lease_id}`);
      }
    }
    const ended = await sql.endAttempts(
      tx.sql,
      completed.map((s) => s.leaseId!),
      'completed',
      now,
    );
    await this.attemptsEnded(tx, completed, ended, 'completed', now);
    await this.backupsDecided(tx, completed, ended, now);
    tx.afterCommit(() => {
      this.traceWork('result', completed, now);
      this.traceWork('failure', [...failed.values()], now);
    });
    for (const [kind, ids] of this.idsByKind(completed)) {
      for (const id of ids)
        await this.parent(kind).settle(
          tx,
          id,
          completed.filter((s) => parentOf(s)!.id === id),
          now,
        );
    }
    this.afterOutcomes(tx, [...completed, ...failed.values()], now);
    const workers = [...completed, ...failed.values()].map(
      (s) => ({ assigneeId: s.assigneeId, kind: s.coordinationId ? 'member' : 'agent' }) as const,
    );
    tx.afterCommit(() => this.sawAssignees(ownerId, workers, now));

    // Everything else: answered from what the rows say now.
    const done = new Set([...recorded, ...failedLeases]);
    const rest = valid.filter((item) => !done.has(`${item.subtask_id}\n${item.lease_id}`));
    const why = rest.length ? await this.refusals(tx.sql, ownerId, rest, now) : new Map<string, Refused>();
    const after = new Map(
      (
        await sql.readSubtasks(
          tx.sql,
          ownerId,
          rest.map((item) => item.subtask_id),
        )
      ).map((s) => [s.id, s]),
    );
    const answered = new Set<string>();
    return items.map((item, i): OutcomeState => {
      const ref = { subtask_id: item.subtask_id, lease_id: item.lease_id };
      const problem = invalid.get(i);
      if (problem) return { ...ref, status: 'refused', refusal: 'INVALID', message: problem };
      const at = `${item.subtask_id}\n${item.lease_id}`;
      if (done.has(at) && !answered.has(at)) {
        answered.add(at);
        return { ...ref, status: 'recorded', refusal: null, message: null };
      }
      const s = after.get(item.subtask_id) ?? completed.find((c) => c.id === item.subtask_id);
      if ('result' in item && s?.status === 'completed' && s.leaseId === item.lease_id) {
        return s.resultKey === resultKey(item.result)
          ? { ...ref, status: 'already_recorded', refusal: null, message: null }
          : {
              ...ref,
              status: 'refused',
              refusal: 'CONFLICT',
              message: `Subtask ${item.subtask_id} already has a different result under lease ${item.lease_id}`,
            };
      }
      const refused = why.get(at) ?? {
        refusal: 'LEASE_LOST' as const,
        message: `Lease ${item.lease_id} on subtask ${item.subtask_id} is no longer held`,
      };
      return { ...ref, status: 'refused', ...refused };
    });
  }

  /**
   * Subtasks a backup copy ran for were decided: the copy that lost has its
   * attempt cancelled (its late result and heartbeats are refused), and a
   * backup that won moves its parent's counters, with the time it saved: the
   * copy it beat had run t without finishing, so it would have needed at
   * least about t more (the estimate the README gives).
   */
  private async backupsDecided(tx: Tx, completed: SubtaskRow[], ended: EndedAttemptRow[], now: Date): Promise<void> {
    const raced = completed.filter((s) => s.backupLeaseId);
    if (raced.length === 0) return;
    const lost = await this.deps.sql.endAttempts(
      tx.sql,
      raced.map((s) => s.backupLeaseId!),
      'cancelled',
      now,
      'another copy of the subtask finished first',
    );
    const wonBy = new Set(ended.filter((a) => a.backup).map((a) => a.subtaskId));
    const byParent = new Map<string, { kind: ParentKind; counts: BackupCounts }>();
    for (const a of lost) {
      const s = raced.find((r) => r.id === a.subtaskId)!;
      const { kind, id } = parentOf(s)!;
      const entry = byParent.get(id) ?? { kind, counts: { launched: 0, won: 0, secondsSaved: 0 } };
      byParent.set(id, entry);
      if (wonBy.has(s.id)) {
        entry.counts.won++;
        entry.counts.secondsSaved += seconds(a.startedAt, now);
      }
    }
    for (const [id, { kind, counts }] of byParent) if (counts.won > 0) await this.parent(kind).backups(tx, id, counts);
    const won = [...byParent.values()].reduce((n, e) => n + e.counts.won, 0);
    const saved = [...byParent.values()].reduce((n, e) => n + e.counts.secondsSaved, 0);
    tx.afterCommit(() => {
      this.outcomes.backups.won += won;
      this.outcomes.backups.secondsSaved += saved;
    });
  }

  /** A backup copy ends (its holder failed it, or its lease ran out): the subtask runs on under its first lease. */
  private async dropBackup(tx: Tx, s: SubtaskRow, error: string | null, ended: 'failed' | 'expired', now: Date): Promise<boolean> {
    const lease = s.backupLeaseId!;
    if (!(await this.deps.sql.dropBackup(tx.sql, s.id, lease, now, ended === 'expired' ? now : undefined))) return false;
    const attempts = await this.deps.sql.endAttempts(tx.sql, [lease], ended, now, error);
    await this.attemptsEnded(tx, [s], attempts, ended, now);
    return true;
  }

  /** Claim attempts ended: each parent counts its own. */
  private async attemptsEnded(
    tx: Tx,
    rows: SubtaskRow[],
    ended: EndedAttemptRow[],
    outcome: EndedAttempt['outcome'],
    now: Date,
  ): Promise<void> {
    const bySubtask = new Map(rows.map((s) => [s.id, s]));
    const byParent = new Map<string, { kind: ParentKind; attempts: EndedAttempt[] }>();
    for (const a of ended) {
      const s = bySubtask.get(a.subtaskId);
      const of = s && parentOf(s);
      if (!of) continue;
      const entry = byParent.get(of.id) ?? { kind: of.kind, attempts: [] };
      byParent.set(of.id, entry);
      entry.attempts.push({ assigneeId: a.assigneeId, outcome, seconds: outcome === 'completed' ? seconds(a.startedAt, now) : 0 });
    }
    for (const [id, { kind, attempts }] of [...byParent].sort(([a], [b]) => (a < b ? -1 : 1)))
      await this.parent(kind).attemptsEnded(tx, id, attempts, now);
  }

  /** Once committed: parents whose work moved may be done, and live views refresh. */
  private afterOutcomes(tx: Tx, rows: SubtaskRow[], now: Date): void {
    const touched = new Map<string, { kind: ParentKind; row: SubtaskRow }>();
    for (const s of rows) {
      const of = parentOf(s);
      if (of) touched.set(of.id, { kind: of.kind, row: s });
    }
    if (touched.size === 0) return;
    tx.afterCommit(async () => {
      for (const [id, { kind }] of touched) await this.parent(kind).finishIfDone(this.deps.db, id, now);
      await this.changed([...touched.values()].map((t) => t.row));
    });
  }

  /** Tell live views that work moved (after the change committed). */
  announce(change: Omit<Extract<ServerEvent, { kind: 'work.changed' }>, 'kind'>): void {
    this.deps.events.publish({ kind: 'work.changed', ...change });
  }

  /** Tell live views that these subtasks' parents moved (`everyone`: the sweep, which does not say whose). */
  private async changed(rows: SubtaskRow[], everyone = false): Promise<void> {
    const about = await this.deps.db.run((_, sql) => this.describe(sql, rows));
    for (const s of rows) {
      const d = about.get(parentOf(s)?.id ?? '');
      this.deps.events.publish({
        kind: 'work.changed',
        owner_id: everyone ? null : s.ownerId,
        network_id: d?.network_id ?? null,
        execution_id: d?.execution_id ?? null,
        swarm_id: d?.swarm_id ?? null,
        task_id: d?.task_id ?? null,
      });
    }
  }

  // ------------------------------------------------------------------ moving work

  /**
   * Take a held or assigned replica away from its assignee: to another one
   * by the parent's rules, or to failed once it has had max_attempts claims
   * (or nobody can take it). `from` is the state the caller saw; nothing
   * happens unless it still holds. A held lease's attempt ends as `ended`.
   * Call with the parent locked.
   */
  private async release(
    tx: Tx,
    s: SubtaskRow,
    from: MovedFrom,
    error: string | null,
    ended: 'failed' | 'expired' | 'cancelled',
    now: Date,
  ): Promise<boolean> {
    const { parent, id } = this.parentOfRow(s);
    if (from.status === 'leased' && s.backupLeaseId && s.backupLeaseExpiresAt) {
      // A backup copy runs: it becomes the subtask's lease, and nothing goes back to the queue.
      if (backupRunning(s, now) && (await this.deps.sql.promoteBackup(tx.sql, s.id, from.leaseId, now, from.expiredBy))) {
        const attempts = await this.deps.sql.endAttempts(tx.sql, [from.leaseId], ended, now, ended === 'failed' ? error : null);
        if (ended !== 'cancelled') await this.attemptsEnded(tx, [s], attempts, ended, now);
        return true;
      }
      // Its lease had run out too: it ends with the move below.
      await this.deps.sql.endAttempts(tx.sql, [s.backupLeaseId], 'expired', now);
    }
    const exhausted = from.status === 'leased' && s.attempts >= s.maxAttempts;
    const next = exhausted ? null : await parent.reassign(tx, s, s.assigneeId ? [s.assigneeId] : [], now);
    const failure = exhausted
      ? `${error ?? 'failed'} (attempt ${s.attempts} of ${s.maxAttempts})`
      : (error ?? 'nobody is left who can run it');
    const moved = await this.deps.sql.moveSubtask(
      tx.sql,
      s.id,
      from,
      next?.assigneeId
        ? { status: 'assigned', assigneeId: next.assigneeId, claimBy: next.claimBy, error }
        : { status: 'failed', error: failure },
      now,
    );
    if (!moved) return false;
    if (from.status === 'leased') {
      const attempts = await this.deps.sql.endAttempts(tx.sql, [from.leaseId], ended, now, ended === 'failed' ? error : null);
      if (ended !== 'cancelled') await this.attemptsEnded(tx, [s], attempts, ended, now);
    }
    if (next?.assigneeId) this.wake(tx, [next.assigneeId]);
    else await parent.settle(tx, id, [{ ...s, status: 'failed', error: failure }], now);
    return true;
  }

  /**
   * Every open subtask of an assignee that went away (a swarm member that
   * left or failed): held leases end as `ended`, and the work moves on.
   */
  async releaseAllOf(tx: Tx, assigneeId: string, ended: 'expired' | 'cancelled', why: string, now: Date): Promise<number> {
    const open = await this.deps.sql.openSubtasksOf(tx.sql, assigneeId);
    for (const [kind, ids] of this.idsByKind(open)) await this.parent(kind).lock(tx, ids, true, now);
    let moved = 0;
    let leases = 0;
    for (const s of open) {
      const from: MovedFrom = s.status === 'leased' ? { status: 'leased', leaseId: s.leaseId ?? '' } : { status: 'assigned', assigneeId };
      if (await this.release(tx, s, from, why, ended, now)) {
        moved++;
        if (from.status === 'leased') leases++;
      }
    }
    if (moved > 0)
      tx.afterCommit(() => {
        this.outcomes.leasesReleased[ended === 'expired' ? 'member_failed' : 'member_left'] += leases;
        this.changed(open);
      });
    return moved;
  }

  /**
   * New subtasks (an execution's, a task's, a next stage or replica): stored, and their assignees' waiting claims woken once
   * committed (with `alsoWake`: those who may steal them).
   */
  async enqueue(tx: Tx, rows: NewSubtask[], now: Date, alsoWake: string[] = []): Promise<void> {
    if (rows.length === 0) return;
    await this.deps.sql.insertSubtasks(tx.sql, rows, now);
    const woken = [...rows.map((r) => r.assigneeId), ...alsoWake];
    // A new parent: those it wakes read their open parents again.
    tx.afterCommit(() => {
      for (const id of woken) this.openParents.delete(id);
    });
    this.wake(tx, woken);
  }

  /** Withdraw a parent's open work (or one subtask's replicas): cancelled, and their open attempts too. */
  cancelOpen(tx: Tx, parent: ParentRef, seq: number | null, now: Date): Promise<number> {
    return this.deps.sql.cancelOpen(tx.sql, parent, seq, now);
  }

  /** Assigned work that should move on at the next sweep: its agent went offline, or left the network. */
  handOn(tx: Tx, which: { assigneeId: string } | { networkId: string; keeping: string[] }, now: Date): Promise<number> {
    return this.deps.sql.handOnAt(tx.sql, which, now);
  }

  private wake(tx: Tx, assignees: string[]): void {
    const unique = [...new Set(assignees)];
    tx.afterCommit(() => {
      for (let i = 0; i < unique.length; i += WAKE_CHUNK)
        this.deps.events.publish({ kind: 'work.assigned', assignees: unique.slice(i, i + WAKE_CHUNK) });
    });
  }

  // ------------------------------------------------------------------ the sweep

  /**
   * What moves on by time alone: leases that ran out go back to the queue
   * (another assignee preferred) or fail after max_attempts, and assignments
   * nobody claimed within their claim window move on. Each subtask is its
   * own transaction with conditional updates, so concurrent sweepers
   * (several server instances) act on each subtask at most once.
   */
  async sweep(now = new Date()): Promise<{ expired: number; reassigned: number }> {
    const { db, sql } = this.deps;
    const [expiring, unclaimed, backups] = await db.run((_, q) =>
      Promise.all([
        sql.expiredLeases(q, now, SWEEP_BATCH),
        sql.unclaimedAssignments(q, now, SWEEP_BATCH),
        sql.expiredBackups(q, now, SWEEP_BATCH),
      ]),
    );
    let expired = 0;
    let reassigned = 0;
    const lapsed: SubtaskRow[] = [];
    const moved: SubtaskRow[] = [];
    for (const s of backups) {
      const done = await db.transaction(async (tx) => {
        const { kind, id } = this.parentOfRow(s);
        await this.parent(kind).lock(tx, [id], true, now);
        const dropped = await this.dropBackup(tx, s, 'lease expired', 'expired', now);
        if (dropped) tx.afterCommit(() => void this.outcomes.leasesExpired++);
        return dropped;
      });
      if (done) {
        expired++;
        lapsed.push(s);
      }
    }
    for (const s of expiring) {
      const done = await db.transaction(async (tx) => {
        const { kind, id } = this.parentOfRow(s);
        await this.parent(kind).lock(tx, [id], true, now);
        const released = await this.release(
          tx,
          s,
          { status: 'leased', leaseId: s.leaseId ?? '', expiredBy: now },
          'lease expired',
          'expired',
          now,
        );
        if (released)
          tx.afterCommit(() => {
            this.outcomes.leasesExpired++;
            this.changed([s], true);
          });
        return released;
      });
      if (done) {
        expired++;
        lapsed.push(s);
      }
    }
    for (const s of unclaimed) {
      const done = await db.transaction(async (tx) => {
        const { kind, id, parent } = this.parentOfRow(s);
        if (!s.assigneeId) return false;
        await this.parent(kind).lock(tx, [id], true, now);
        const next = await parent.reassign(tx, s, [s.assigneeId], now);
        if (!next.assigneeId || next.assigneeId === s.assigneeId) {
          await sql.renewClaimWindow(tx.sql, s.id, s.assigneeId, next.claimBy, now);
          return false;
        }
        const from: MovedFrom = { status: 'assigned', assigneeId: s.assigneeId, unclaimedBy: now };
        if (
          !(await sql.moveSubtask(
            tx.sql,
            s.id,
            from,
            { status: 'assigned', assigneeId: next.assigneeId, claimBy: next.claimBy, error: null },
            now,
          ))
        )
          return false;
        this.wake(tx, [next.assigneeId]);
        tx.afterCommit(() => this.changed([s], true));
        return true;
      });
      if (done) {
        reassigned++;
        moved.push(s);
      }
    }
    this.traceWork('sweep: lease expired', lapsed, now);
    this.traceWork('sweep: reassigned unclaimed', moved, now);
    return { expired, reassigned };
  }

  /** Shutdown: waiting claims answer now. */
  close(): void {
    this.closed = true;
    this.deps.waiters.close();
  }
}

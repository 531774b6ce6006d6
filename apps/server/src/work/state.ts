/**
 * What every part of the work engine shares: what it was handed (deps), the
 * parents registered by kind, this instance's caches, and the outcome
 * counters. The WorkEngine (work/engine.ts) holds one and hands it to each
 * module (claims, stealing, leases, results, release, sweep); this module
 * imports none of them, so they import it without a cycle.
 */
import type { Clock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { EventBus } from '../events.ts';
import { TRACING_OFF, type Tracing } from '../tracing.ts';
import type { OpenParent, ParentKind, WorkParent, WorkParents } from './parent.ts';
import { parentOf } from './parent.ts';
import type { WorkSql } from './sql/index.ts';
import type { SubtaskRun } from './sql/stragglers.ts';
import { Outcomes } from './outcomes.ts';
import type { SubtaskRow } from './subtasks.ts';
import type { Waiters } from './waiters.ts';

/** Who claims: an agent (network work) or a swarm member (swarm work). */
export type Assignee = { kind: 'agent' | 'member'; id: string };

/** The kind of parent an assignee's work belongs to: an agent's executions, a member's tasks. */
export const parentKindOf = (who: Assignee): ParentKind => (who.kind === 'agent' ? 'execution' : 'coordination');

/** Signs of life: a claim, a lease heartbeat or a result says its agent or member is alive. */
export interface Presence {
  /** Throws not_found when it is not the caller's, conflict when it can take no work (a member that left). */
  seen(ownerId: string, who: Assignee, now: Date): Promise<void>;
}

export interface WorkEngineDeps {
  /** The time leases are stamped and checked by: the database's on PostgreSQL (clock.ts), so instances agree. */
  clock: Clock;
  db: Database;
  sql: WorkSql;
  presence: Presence;
  events: EventBus;
  waiters: Waiters;
  /** Spans for claims, results and sweeps, under each task's trace (off unless an OTLP endpoint is set). */
  tracing?: Tracing;
}

/** A parent whose work any of its assignees takes first (urgent.ts): whose, its kind, until when, and how much is left. */
export interface UrgentParent {
  ownerId: string;
  kind: ParentKind;
  until: number;
  /** Its subtasks not yet seen claimed on this instance. */
  left: number;
}

/** Parents known to be started (claims skip marking them again); bounded. */
export const STARTED_MEMORY = 10_000;

export const seconds = (from: Date, to: Date) => Math.max(0, (to.getTime() - from.getTime()) / 1000);

/** A backup copy of the subtask runs (speculation), its lease not run out. */
export const backupRunning = (s: SubtaskRow, now: Date) =>
  s.status === 'leased' && s.backupLeaseId !== null && (s.backupLeaseExpiresAt?.getTime() ?? 0) > now.getTime();

export class EngineState {
  readonly parents: Partial<WorkParents> = {};
  readonly startedParents = new Set<string>();
  /** What this process ended and decided, for /metrics. */
  readonly outcomes = new Outcomes();
  closed = false;
  /** The parents each assignee may take others' work from, as last read (see openTo in stealing.ts). */
  readonly openParents = new Map<string, { at: number; open: OpenParent[] }>();
  /** Parents' subtask runs as speculation last read them (see runsOf in stealing.ts). */
  readonly runs = new Map<string, { until: number; runs: SubtaskRun[] }>();
  /** Parents whose work any of their assignees takes first, and until when (see urgent.ts). */
  readonly urgent = new Map<string, UrgentParent>();

  readonly tracing: Tracing;

  constructor(readonly deps: WorkEngineDeps) {
    this.tracing = deps.tracing ?? TRACING_OFF;
  }

  parent(kind: ParentKind): WorkParent {
    const parent = this.parents[kind];
    if (!parent) throw new Error(`no work parent registered for ${kind}`);
    return parent;
  }

  parentOfRow(s: SubtaskRow): { kind: ParentKind; id: string; parent: WorkParent } {
    const of = parentOf(s);
    if (!of) throw new Error(`subtask ${s.id} has no parent`);
    return { ...of, parent: this.parent(of.kind) };
  }
}

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
 *
 * This class is the facade the rest of the server holds; the work is done
 * by one module per responsibility, each handed the engine's shared state
 * (work/state.ts): claims.ts, stealing.ts (work stealing and backup copies),
 * leases.ts, results.ts, release.ts (moving work), sweep.ts, with
 * attempts.ts, views.ts and spans.ts beneath them.
 */
import type { ClaimedSubtask, LeaseView, ReportedOutcome, SubtaskHistory } from '@aitbc/core';
import type { Attributes } from '@opentelemetry/api';
import type { Tx } from '../db/database.ts';
import type { Query } from '../db/sql.ts';
import type { ServerEvent } from '../events.ts';
import type { Tracing } from '../tracing.ts';
import { type ClaimOptions, claim } from './claims.ts';
import { extend, type Known, type LeaseState, leaseHolders, leaseView } from './leases.ts';
import type { Outcomes } from './outcomes.ts';
import type { ParentKind, WorkParent } from './parent.ts';
import { cancelOpen, enqueue, handOn, releaseAllOf, requeueEnded, wake } from './release.ts';
import { subtaskHistory } from './history.ts';
import { type OutcomeState, record } from './results.ts';
import { traceTasks, traceWork } from './spans.ts';
import type { ParentRef } from './sql/cancel.ts';
import type { NewSubtask } from './sql/insert.ts';
import { type Assignee, EngineState, type WorkEngineDeps } from './state.ts';
import type { SubtaskRow } from './subtasks.ts';
import { sweep } from './sweep.ts';
import { hasUrgent, noteUrgent } from './urgent.ts';
import { announce } from './views.ts';

export type { ClaimOptions } from './claims.ts';
export { type Known, type LeaseState, type Refused, refusalError } from './leases.ts';
export { type OutcomeState, resultKey } from './results.ts';
export type { Assignee, Presence, WorkEngineDeps } from './state.ts';

export class WorkEngine {
  private readonly state: EngineState;
  /** What this process ended and decided, for /metrics. */
  readonly outcomes: Outcomes;

  readonly tracing: Tracing;

  private readonly unsubscribe: () => void;

  constructor(deps: WorkEngineDeps) {
    this.state = new EngineState(deps);
    this.outcomes = this.state.outcomes;
    this.tracing = this.state.tracing;
    // Urgent parents, noted on every instance (urgent.ts).
    this.unsubscribe = deps.events.subscribe((e) => {
      if (e.kind === 'work.urgent') noteUrgent(this.state, e, deps.clock.now().getTime());
    });
  }

  /** A kind of parent plugs in (server.ts registers executions and coordinations). */
  register(kind: ParentKind, parent: WorkParent): void {
    this.state.parents[kind] = parent;
  }

  // ------------------------------------------------------------------ claims

  /**
   * Up to `max` of the assignee's subtasks, leased to the caller. With
   * `waitSeconds`, an empty claim waits (without touching the database)
   * until work is assigned to it, the wait ends, or the server closes.
   */
  claim(ownerId: string, who: Assignee, options: ClaimOptions): Promise<ClaimedSubtask[]> {
    return claim(this.state, ownerId, who, options);
  }

  /**
   * One span per task these subtasks belong to, under that task's trace and
   * linked to the current request's span (tracing on only; never delays the
   * caller). Attributes: the task's ids, the subtasks and who holds them.
   */
  traceWork(name: string, rows: SubtaskRow[], start: Date, attributes: Attributes = {}): void {
    traceWork(this.state, name, rows, start, attributes);
  }

  /** A span for each of these tasks (executions or coordinations), under the task's own trace. */
  traceTasks(name: string, kind: ParentKind, ids: string[], start: Date, attributes: (id: string) => Attributes): void {
    traceTasks(this.state, name, kind, ids, start, attributes);
  }

  // ------------------------------------------------------------------ leases

  /** Extend every listed lease the caller still holds; each lease is answered on its own. */
  extend(ownerId: string, leases: { subtask_id: string; lease_id: string }[], leaseSeconds: number | undefined): Promise<LeaseState[]> {
    return extend(this.state, ownerId, leases, leaseSeconds);
  }

  /**
   * Who holds each of these leases, by subtask and lease id: the first copy's
   * assignee or the backup's. A lease that is not held by anyone here is
   * absent (the work calls answer it themselves).
   */
  leaseHolders(ownerId: string, leases: { subtask_id: string; lease_id: string }[]): Promise<Map<string, Assignee>> {
    return leaseHolders(this.state, ownerId, leases);
  }

  /** A subtask's lease as it stands now (the single-item calls answer with it). */
  /** `known`: what recording the subtask's result learned (its row, its parent's status), not read again. */
  leaseView(ownerId: string, subtaskId: string, known?: Known): Promise<LeaseView> {
    return leaseView(this.state, ownerId, subtaskId, known);
  }

  // ------------------------------------------------------------------ outcomes

  /**
   * Results and failures, in one transaction, each answered on its own:
   * recorded, already recorded (the same result posted again under the same
   * lease), or refused with the reason. One bad item never refuses the others.
   */
  record(ownerId: string, items: ReportedOutcome[], known?: Known): Promise<OutcomeState[]> {
    return record(this.state, ownerId, items, known);
  }

  /** Tell live views that work moved (after the change committed). */
  announce(change: Omit<Extract<ServerEvent, { kind: 'work.changed' }>, 'kind'>): void {
    announce(this.state, change);
  }

  // ------------------------------------------------------------------ moving work

  /**
   * Every open subtask of an assignee that went away (a swarm member that
   * left or failed): held leases end as `ended`, and the work moves on.
   */
  releaseAllOf(tx: Tx, assigneeId: string, ended: 'expired' | 'cancelled', why: string, now: Date): Promise<number> {
    return releaseAllOf(this.state, tx, assigneeId, ended, why, now);
  }

  /**
   * New subtasks (an execution's, a task's, a next stage or replica): stored, and their assignees' waiting claims woken once
   * committed (with `alsoWake`: those who may steal them). `urgent`: any of those takes them first (urgent.ts).
   * `leading` (PostgreSQL): data-modifying CTEs the first INSERT carries (insertSubtasks).
   */
  enqueue(tx: Tx, rows: NewSubtask[], now: Date, alsoWake: string[] = [], urgent = false, leading?: Query): Promise<void> {
    return enqueue(this.state, tx, rows, now, alsoWake, urgent, leading);
  }

  /** Withdraw a parent's open work (or one subtask's replicas): cancelled, and their open attempts too. */
  /** These assignees' long-poll claims look again once `tx` commits (something they could not take, they now can). */
  wake(tx: Tx, assignees: string[]): void {
    if (assignees.length > 0) wake(this.state, tx, assignees);
  }

  cancelOpen(tx: Tx, parent: ParentRef, seq: number | null, now: Date): Promise<number> {
    return cancelOpen(this.state, tx, parent, seq, now);
  }

  /** A redrive: a parent's subtasks that ended undecided, queued again with fresh attempts (all, or none when one is `stuck`). */
  requeueEnded(tx: Tx, parent: ParentRef, now: Date): Promise<{ ids: string[] } | { stuck: number }> {
    return requeueEnded(this.state, tx, parent, now);
  }

  /** A subtask and every attempt of it, for its owner (not found otherwise). */
  history(ownerId: string, subtaskId: string): Promise<SubtaskHistory> {
    return subtaskHistory(this.state, ownerId, subtaskId);
  }

  /** Assigned work that should move on at the next sweep: its agent went offline, or left the network. */
  handOn(tx: Tx, which: { assigneeId: string } | { networkId: string; keeping: string[] }, now: Date): Promise<number> {
    return handOn(this.state, tx, which, now);
  }

  // ------------------------------------------------------------------ the sweep

  /** What moves on by time alone (work/sweep.ts): leases and backup copies that ran out, assignments left unclaimed, retries due. */
  sweep(now = this.state.deps.clock.now()): Promise<{ expired: number; reassigned: number; retried: number }> {
    return sweep(this.state, now);
  }

  /** Whether the owner has urgent work noted on this instance (urgent.ts): its claims go ahead of its other requests. */
  hasUrgent(ownerId: string): boolean {
    return hasUrgent(this.state, ownerId, this.state.deps.clock.now().getTime());
  }

  /** Shutdown: waiting claims answer now. */
  close(): void {
    this.unsubscribe();
    this.state.closed = true;
    this.state.deps.waiters.close();
  }
}

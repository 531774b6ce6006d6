import type { HeartbeatBatchView, MemberHeartbeatView, MemberStatus } from '@aitbc/core';
import type { Database } from '../db/database.ts';
import { dialectal, inList, sql } from '../db/sql.ts';
import { membersMoved } from '../stats.ts';
import { lockSwarm } from './lock.ts';
import { memberNotFound } from './membership.ts';
import { conflict, DomainError } from '../errors.ts';
import { type Clock, later } from '../clock.ts';
import { databaseFault } from '../db/faults.ts';

/** What a heartbeat needs to know of a member; it does not change while the member stays. */
export interface KnownMember {
  ownerId: string;
  swarmId: string;
  left: boolean;
}

interface Thresholds {
  suspectAfterSeconds: number;
  failAfterSeconds: number;
  /** Cached until then (a join may change a swarm's thresholds). */
  until: number;
}

const KNOWN_MEMBERS = 200_000;
/** The longest a beating member's stored heartbeat may trail its latest beat (see `refreshMs`). */
const MAX_REFRESH_MS = 5000;
const THRESHOLDS_MS = 5000;
const UPDATE_CHUNK = 1000;

/**
 * SQLite, without statistics, guesses that `status = 'active'` picks fewer
 * rows than a list of member ids and scans every active member of the swarm
 * instead (~1 ms a statement at 10,000 members, measured): the member id
 * index is named. PostgreSQL plans from its statistics.
 */
const BY_MEMBER_ID = dialectal('INDEXED BY "swarm_members_member_id_key"', '');

/**
 * Heartbeats without a disk transaction each. A heartbeat is checked against
 * what this instance knows of the member (read from the database once) and
 * acknowledged at once; the latest time of each member is kept in memory and
 * written every `flushMs` for all of them in one transaction, grouped by swarm.
 *
 * The cost: a member's stored heartbeat (and with it its suspect and fail
 * deadlines) lags by at most `flushMs`, so failure detection fires within its
 * threshold plus `flushMs` (plus the sweep interval). The sweeper flushes
 * before it looks. A crash loses at most `flushMs` of heartbeats, which only
 * delays nothing and revives nobody.
 *
 * Writes are coalesced per member: a member that beats every second is
 * written when its stored beat is `refreshMs` old (a fifth of its swarm's
 * suspect threshold, at most 5 s), not at every beat, and its latest beat is
 * always written in the end. A stored beat trails the latest by less than
 * `refreshMs + flushMs`, far inside the threshold, so nobody beating is ever
 * judged silent, and a silent member's deadlines are those of its last beat.
 * At 10,000 members beating at 1 Hz this writes a fifth of the rows (a
 * heartbeat write is ~9 µs of a single-threaded SQLite's time per member).
 * Views on this instance show the latest beat (`overlay`).
 *
 * A heartbeat acknowledged is written, outage or not: a flush that fails
 * keeps its beats (behind newer ones) for the next. While the database is
 * down or read-only, flushes wait for it (the database's availability says
 * when it is back) instead of failing every `flushMs`, and say nothing:
 * the outage is logged once, by db/availability.ts.
 */
export class HeartbeatBuffer {
  /** Latest beat of each member since the last flush, by member id. */
  private pending = new Map<string, { swarmId: string; at: Date }>();
  /** The beat time last written for each member by this instance (ms). */
  private readonly written = new Map<string, number>();
  private readonly members = new Map<string, KnownMember>();
  private readonly thresholds = new Map<string, Thresholds>();
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    flushMs: number,
    private readonly onError: (error: unknown) => void,
  ) {
    this.timer = setInterval(() => {
      if (this.db.availability.state !== 'up') return;
      void this.flush().catch((error: unknown) => {
        // The database's fault: kept for the next flush, and the outage is db/availability.ts's to report.
        if (!databaseFault(error)) this.onError(error);
      });
    }, flushMs);
    this.timer.unref();
  }

  /** A member this instance saw join or leave: no need to read it back. */
  remember(memberId: string, member: KnownMember): void {
    if (this.members.size >= KNOWN_MEMBERS) this.members.clear();
    this.members.set(memberId, member);
  }

  /**
   * Events were missed (the event bus listened again): what other instances
   * may have changed is read again, the members (did they leave?) and the
   * swarms' thresholds.
   */
  forgetAll(): void {
    this.members.clear();
    this.thresholds.clear();
  }

  /** The member left (here or, told by an event, elsewhere). */
  forget(memberId: string): void {
    const known = this.members.get(memberId);
    if (known) known.left = true;
    else this.members.delete(memberId);
  }

  private async member(ownerId: string, memberId: string): Promise<KnownMember> {
    let known = this.members.get(memberId);
    if (!known) {
      const row = await this.db.run((tx) =>
        tx.swarmMember.findUnique({ where: { memberId }, select: { ownerId: true, swarmId: true, status: true } }),
      );
      if (!row) throw memberNotFound(memberId);
      known = { ownerId: row.ownerId, swarmId: row.swarmId, left: row.status === 'left' };
      this.remember(memberId, known);
    }
    // Another owner's member does not exist, as far as this caller can tell.
    if (known.ownerId !== ownerId) throw memberNotFound(memberId);
    return known;
  }

  private async thresholdsOf(swarmId: string, now: number): Promise<Thresholds> {
    const cached = this.thresholds.get(swarmId);
    if (cached && cached.until > now) return cached;
    const swarm = await this.db.run((tx) =>
      tx.swarm.findUniqueOrThrow({ where: { id: swarmId }, select: { suspectAfterSeconds: true, failAfterSeconds: true } }),
    );
    const fresh = { ...swarm, until: now + THRESHOLDS_MS };
    this.thresholds.set(swarmId, fresh);
    return fresh;
  }

  /** Drop a swarm's cached thresholds: they changed. */
  thresholdsChanged(swarmId: string): void {
    this.thresholds.delete(swarmId);
  }

  async beat(ownerId: string, memberId: string, now: Date): Promise<MemberHeartbeatView> {
    const member = await this.member(ownerId, memberId);
    if (member.left) {
      throw conflict(`Swarm member ${memberId} left swarm ${member.swarmId}; join again for a new member id`);
    }
    const t = await this.thresholdsOf(member.swarmId, now.getTime());
    this.pending.set(memberId, { swarmId: member.swarmId, at: now });
    return {
      member_id: memberId,
      swarm_id: member.swarmId,
      status: 'active',
      last_heartbeat_at: now.toISOString(),
      suspect_at: later(now, t.suspectAfterSeconds).toISOString(),
      fail_at: later(now, t.failAfterSeconds).toISOString(),
    };
  }

  /** A member row as of its latest beat on this instance (its stored beat may trail by up to `refreshMs`). */
  overlay<M extends { memberId: string; status: string; lastHeartbeatAt: Date | null }>(m: M): M {
    const beat = this.pending.get(m.memberId);
    return beat && m.status !== 'left' && (!m.lastHeartbeatAt || beat.at > m.lastHeartbeatAt) ? { ...m, lastHeartbeatAt: beat.at } : m;
  }

  /** How often a beating member's heartbeat is written. */
  private static refreshMs(t: Thresholds): number {
    return Math.min(MAX_REFRESH_MS, (t.suspectAfterSeconds * 1000) / 5);
  }

  /** Heartbeats of many members at once; those that are not the caller's or have left are refused one by one. */
  async beatMany(ownerId: string, memberIds: string[], now: Date): Promise<HeartbeatBatchView> {
    const refused: HeartbeatBatchView['refused'] = [];
    let accepted = 0;
    for (const memberId of new Set(memberIds)) {
      try {
        await this.beat(ownerId, memberId, now);
        accepted++;
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        refused.push({ member_id: memberId, code: error.kind === 'conflict' ? 'CONFLICT' : 'NOT_FOUND', message: error.message });
      }
    }
    return { accepted, refused };
  }

  /**
   * Write the buffered heartbeats that are due (`all`: every one): per
   * swarm, every member that beat is active again with deadlines from its
   * latest beat (members that left stay left). One transaction for all of them.
   */
  flush(options: { all?: boolean } = {}): Promise<void> {
    const run = this.flushing.then(() => this.writePending(options.all ?? false));
    this.flushing = run.catch(() => undefined);
    return run;
  }

  private async writePending(all: boolean): Promise<void> {
    if (this.pending.size === 0) return;
    const now = this.clock.now().getTime();
    const thresholds = new Map<string, Thresholds>();
    for (const { swarmId } of this.pending.values()) {
      if (!thresholds.has(swarmId)) thresholds.set(swarmId, await this.thresholdsOf(swarmId, now));
    }
    // Due: members not written lately; the others stay pending (a newer beat replaces theirs).
    const batch = new Map<string, { swarmId: string; at: Date }>();
    for (const [memberId, beat] of this.pending) {
      const last = this.written.get(memberId);
      if (all || last === undefined || now - last >= HeartbeatBuffer.refreshMs(thresholds.get(beat.swarmId)!)) batch.set(memberId, beat);
    }
    if (batch.size === 0) return;
    for (const memberId of batch.keys()) this.pending.delete(memberId);
    try {
      // By swarm, then by beat time: each member's deadlines come from its own latest beat (members whose beats
      // arrived in one request share a time, so the groups stay few).
      const bySwarm = new Map<string, Map<number, string[]>>();
      for (const [memberId, { swarmId, at }] of batch) {
        const byTime = bySwarm.get(swarmId) ?? new Map<number, string[]>();
        bySwarm.set(swarmId, byTime);
        const ids = byTime.get(at.getTime()) ?? [];
        byTime.set(at.getTime(), ids);
        ids.push(memberId);
      }
      // In swarm id order: two instances flushing at once lock the same swarms in the same order.
      const swarms = [...bySwarm.keys()].sort().map((swarmId) => ({ swarmId, byTime: bySwarm.get(swarmId)!, t: thresholds.get(swarmId)! }));
      const written = new Date(now);
      await this.db.transaction(async (tx) => {
        for (const { swarmId, byTime, t } of swarms) {
          await lockSwarm(tx, swarmId);
          for (const [ms, ids] of byTime) {
            const at = new Date(ms);
            const times = sql`"last_heartbeat_at" = ${at}, "suspect_at" = ${later(at, t.suspectAfterSeconds)}, "fail_at" = ${later(at, t.failAfterSeconds)}, "updated_at" = ${written}`;
            for (let i = 0; i < ids.length; i += UPDATE_CHUNK) {
              const chunk = inList(ids.slice(i, i + UPDATE_CHUNK));
              // Suspect and failed members beat again: active, and counted so (mostly there are none).
              const reviving = await tx.sql.all<{ status: MemberStatus }>(
                sql`SELECT "status" FROM "swarm_members" ${BY_MEMBER_ID} WHERE "member_id" ${chunk} AND "status" IN ('suspect', 'failed')`,
              );
              await tx.sql.run(
                sql`UPDATE "swarm_members" ${BY_MEMBER_ID} SET ${times}, "status" = 'active' WHERE "member_id" ${chunk} AND "status" IN ('active', 'suspect', 'failed')`,
              );
              for (const from of ['suspect', 'failed'] as const) {
                await membersMoved(tx, swarmId, from, 'active', reviving.filter((m) => m.status === from).length);
              }
            }
          }
        }
      });
      if (this.written.size + batch.size > KNOWN_MEMBERS) this.written.clear();
      for (const [memberId, { at }] of batch) this.written.set(memberId, at.getTime());
    } catch (error) {
      // Not written: keep them for the next flush, unless a newer beat came meanwhile.
      for (const [memberId, beat] of batch) if (!this.pending.has(memberId)) this.pending.set(memberId, beat);
      throw error;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush({ all: true }).catch(this.onError);
  }
}

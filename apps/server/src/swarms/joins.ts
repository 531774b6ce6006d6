import type { JoinRequest, JoinView } from '@aitbc/core';
import type { Database, Tx } from '../db/database.ts';
import { join, raw, sql } from '../db/sql.ts';
import { membersMoved } from '../stats.ts';
import { joinSwarm, memberRow, openKey, openSwarm } from './membership.ts';
import { toMemberView, type SwarmRow } from './views.ts';

interface Waiting {
  ownerId: string;
  input: JoinRequest;
  now: Date;
  resolve(view: JoinView): void;
  reject(error: unknown): void;
}

type MemberInsert = ReturnType<typeof memberRow>;

/** The column of each field memberRow fills (the schema's @map names); the compiler checks none is missing. */
const MEMBER_COLUMNS = {
  id: 'id',
  swarmId: 'swarm_id',
  memberId: 'member_id',
  role: 'role',
  capability: 'capability',
  region: 'region',
  priority: 'priority',
  status: 'status',
  ownerId: 'owner_id',
  reputation: 'reputation',
  host: 'host',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  leftAt: 'left_at',
  lastHeartbeatAt: 'last_heartbeat_at',
  suspectAt: 'suspect_at',
  failAt: 'fail_at',
} satisfies Record<keyof MemberInsert, string>;
const MEMBER_FIELDS = Object.keys(MEMBER_COLUMNS) as (keyof MemberInsert)[];
const MEMBER_COLUMN_LIST = raw(
  Object.values(MEMBER_COLUMNS)
    .map((column) => `"${column}"`)
    .join(', '),
);

/**
 * A batch of members as one multi-row INSERT (Prisma's createMany cost ~300
 * µs a row here, the same as a create per row; this costs a fraction).
 */
async function insertMembers(tx: Tx, rows: MemberInsert[]): Promise<void> {
  const values = rows.map((row) => sql`(${join(MEMBER_FIELDS.map((field) => sql`${row[field]}`))})`);
  await tx.sql.run(sql`INSERT INTO "swarm_members" (${MEMBER_COLUMN_LIST}) VALUES ${join(values)}`);
}

/** Joins taken into one transaction at most. */
const BATCH = 256;
/** A swarm row (its thresholds) is reused this long by later batches. */
const SWARM_CACHE_MS = 5000;

/**
 * Group commit for joins: the joins that arrive while one batch is being
 * written are written together in the next one, as a single insert of all
 * their members, and each is acknowledged only after that insert commits.
 * Joins without a swarm_id or thresholds (the common, legacy form) take this
 * path; the rest go one by one. If a batch fails, its joins are retried one
 * by one, so one bad join fails alone.
 */
export class JoinBatcher {
  private queue: Waiting[] = [];
  private writing = false;
  private readonly swarms = new Map<string, { swarm: SwarmRow; until: number }>();

  constructor(private readonly db: Database) {}

  join(ownerId: string, input: JoinRequest, now: Date): Promise<JoinView> {
    if (input.swarm_id || input.suspect_after_seconds !== undefined || input.fail_after_seconds !== undefined) {
      return joinSwarm(this.db, ownerId, input, now);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ ownerId, input, now, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  /** The swarm's thresholds changed: do not reuse its cached row. */
  forgetSwarm(swarmId: string): void {
    for (const [key, entry] of this.swarms) if (entry.swarm.id === swarmId) this.swarms.delete(key);
  }

  /** Changes may have been missed (the event bus listened again): read every swarm again. */
  forgetAll(): void {
    this.swarms.clear();
  }

  private async drain(): Promise<void> {
    this.writing = true;
    // Let the joins of this tick gather first.
    await new Promise((r) => setImmediate(r));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, BATCH);
      try {
        const views = await this.write(batch);
        for (const [i, w] of batch.entries()) w.resolve(views[i]!);
      } catch {
        for (const w of batch) await joinSwarm(this.db, w.ownerId, w.input, w.now).then(w.resolve, w.reject);
      }
    }
    this.writing = false;
  }

  private async write(batch: Waiting[]): Promise<JoinView[]> {
    const now = Date.now();
    const swarms = await this.db.run(async (tx) => {
      const found: SwarmRow[] = [];
      for (const w of batch) {
        const key = openKey(w.ownerId, w.input.capability);
        const cached = this.swarms.get(key);
        if (cached && cached.until > now) {
          found.push(cached.swarm);
          continue;
        }
        const swarm = await openSwarm(tx, w.ownerId, w.input.capability);
        this.swarms.set(key, { swarm, until: now + SWARM_CACHE_MS });
        found.push(swarm);
      }
      return found;
    });
    const rows = batch.map((w, i) => memberRow(swarms[i]!, w.ownerId, w.input, w.now));
    // One transaction: the members and their swarms' counts commit together.
    return this.db.transaction(async (tx) => {
      await insertMembers(tx, rows);
      const joined = new Map<string, number>();
      for (const row of rows) joined.set(row.swarmId, (joined.get(row.swarmId) ?? 0) + 1);
      for (const [swarmId, count] of joined) await membersMoved(tx, swarmId, null, 'active', count);
      return rows.map((row, i) => toMemberView(row, batch[i]!.now));
    });
  }
}

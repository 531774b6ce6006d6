/**
 * An agent's signs of life (claims, lease heartbeats, results) keep it
 * `live` for assignment: its last_seen moves on, and an agent marked offline
 * comes back online. Written at most once a second per agent and instance,
 * so a busy worker's every request does not rewrite (and lock) its agent's
 * row: liveness is judged against the claim timeout (30 s by default), and a
 * second of staleness does not change it.
 */
import type { Database } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import { notFound } from '../errors.ts';

const WRITE_EVERY_MS = 1000;
const REMEMBERED = 100_000;

export class AgentPresence {
  /** Agents this instance saw lately: whose they are, and when last_seen was written. */
  private readonly written = new Map<string, { ownerId: string; at: number }>();

  constructor(private readonly db: Database) {}

  /** A sign of life from the caller's agent; not_found when it is not the caller's. */
  async seen(ownerId: string, agentId: string, now: Date): Promise<void> {
    const known = this.written.get(agentId);
    if (known && known.ownerId === ownerId && now.getTime() - known.at < WRITE_EVERY_MS) return;
    const changed = await this.db.run((_, q) =>
      q.run(sql`
        UPDATE "agents" SET "last_seen" = ${now}, "status" = CASE WHEN "status" = 'offline' THEN 'online' ELSE "status" END, "updated_at" = ${now}
        WHERE "id" = ${agentId} AND "owner_id" = ${ownerId}`),
    );
    if (changed === 0) {
      this.written.delete(agentId);
      throw notFound(`Agent ${agentId} not found`);
    }
    if (this.written.size >= REMEMBERED) this.written.clear();
    this.written.set(agentId, { ownerId, at: now.getTime() });
  }

  /** Its status or existence changed (offline, deleted): the next sign of life is written at once. */
  forget(agentId: string): void {
    this.written.delete(agentId);
  }
}

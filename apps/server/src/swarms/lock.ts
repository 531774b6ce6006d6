import type { Tx } from '../db/database.ts';
import { sql } from '../db/sql.ts';

/**
 * Take a swarm's row lock before anything else its work touches. Every
 * transaction that settles, releases or reassigns a swarm's work (results,
 * failures, expiry, leaving, failing members, heartbeat writes, consensus
 * requests, deadlines) starts here, so on PostgreSQL they queue on one row
 * instead of locking members, tasks and subtasks in different orders and
 * deadlocking.
 */
export async function lockSwarm(tx: Pick<Tx, 'sql'>, swarmId: string | null): Promise<void> {
  if (swarmId) await tx.sql.run(sql`UPDATE "swarms" SET "updated_at" = ${new Date()} WHERE "id" = ${swarmId}`);
}

import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { type Clock, clockFor } from './clock.ts';
import type { OutageLog } from './db/availability.ts';
import { bootstrapAdminKey, type AdminKeyBootstrap } from './auth/bootstrap.ts';
import type { ServerConfig } from './config.ts';
import { Database } from './db/database.ts';
import { migrateDatabase } from './db/migrate.ts';
import { connectEvents, type EventBus } from './events.ts';
import { HeartbeatBuffer } from './swarms/heartbeats.ts';
import { databaseTarget } from './db/target.ts';
import { AgentPresence } from './agents/presence.ts';
import { ExecutionParent } from './networks/executions.ts';
import { CoordinationParent, expireCoordinations } from './swarms/coordinations.ts';
import { detectMemberFailures } from './swarms/membership.ts';
import { WorkEngine } from './work/engine.ts';
import { createTracing } from './tracing.ts';
import { workSql } from './work/sql/index.ts';
import { startSweeper } from './work/sweeper.ts';
import { forgetExpiredSubmits } from './idempotency.ts';
import { claimWaiters, taskWaiters } from './work/waiters.ts';

/** How long shutdown waits for open connections before it closes them. */
const CLOSE_GRACE_MS = 2000;

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  db: Database;
  /** The time leases, heartbeats and deadlines are stamped by (the database's on PostgreSQL). */
  clock: Clock;
  /** What happened, as this instance hears it (from every instance on PostgreSQL). */
  events: EventBus;
  /** Swarm heartbeats buffered before they are written (tests flush them). */
  heartbeats: HeartbeatBuffer;
  /** The work engine (tests run its sweep by hand). */
  work: WorkEngine;
  migrations: string[];
  adminKey: AdminKeyBootstrap;
  close(): Promise<void>;
}

/**
 * The database layer's log lines (an outage, its end, the event bus listening again): stderr until the server's
 * logger exists, then that logger.
 */
function databaseLog(): OutageLog & { to: FastifyBaseLogger | null } {
  const log = {
    to: null as FastifyBaseLogger | null,
    error: (fields: object, message: string) => (log.to ? log.to.error(fields, message) : console.error(`aitbc-server: ${message}`)),
    warn: (fields: object, message: string) => (log.to ? log.to.warn(fields, message) : console.error(`aitbc-server: ${message}`)),
  };
  return log;
}

/** Migrate, connect, make sure an admin key exists, and listen. */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const target = databaseTarget(config.databaseUrl, config.dataDir);
  const { applied } = await migrateDatabase(target);
  const db = await Database.connect(target);
  const log = databaseLog();
  db.availability.log = log;
  let events: EventBus | null = null;
  let clock: Clock | null = null;
  try {
    const adminKey = await bootstrapAdminKey(db, { dataDir: config.dataDir, configuredAdmins: config.adminApiKeys.length > 0 });
    const time = await clockFor(db);
    clock = time;
    const bus = await connectEvents(target, (error) => console.error('aitbc-server: event bus:', error.message), log);
    events = bus;
    const heartbeats = new HeartbeatBuffer(db, time, config.heartbeatFlushMs, (error) =>
      console.error('aitbc-server: heartbeat flush:', (error as Error).message),
    );
    const agents = new AgentPresence(db);
    const tracing = await createTracing({ endpoint: config.otlpEndpoint ?? null, exportDelayMs: config.traceExportDelayMs });
    const claims = claimWaiters(bus);
    const work = new WorkEngine({
      clock: time,
      tracing,
      db,
      sql: workSql,
      events: bus,
      waiters: claims,
      // A claim, a lease heartbeat or a result is a sign of life: an agent's last_seen, a member's heartbeat.
      presence: {
        seen: async (ownerId, who, now) =>
          void (who.kind === 'agent' ? await agents.seen(ownerId, who.id, now) : await heartbeats.beat(ownerId, who.id, now)),
      },
    });
    const executions = new ExecutionParent(work, db);
    work.register('execution', executions);
    work.register('coordination', new CoordinationParent(work, db));
    const tasks = taskWaiters(bus);
    // The database went down or read-only: long polls answer now (empty), not at the end of their wait.
    const stopInterrupting = db.availability.onChange((state) => {
      if (state === 'up') return;
      claims.interrupt();
      tasks.interrupt();
    });
    const app = await buildApp({ config, db, clock: time, events: bus, heartbeats, work, taskWaiters: tasks, agents });
    log.to = app.log;
    if (Math.abs(time.offsetMs) > 1000)
      app.log.warn(
        { clock_offset_ms: Math.round(time.offsetMs) },
        `this machine's clock is ${Math.abs(time.offsetMs / 1000).toFixed(1)} s ${time.offsetMs < 0 ? 'ahead of' : 'behind'} the database's; leases and deadlines use the database's`,
      );
    await app.listen({ host: config.host, port: config.port });
    const stopSweeper = startSweeper(
      [
        // Heartbeats this instance holds count before anyone is judged silent.
        async () => void (await heartbeats.flush()),
        (now) => detectMemberFailures(db, work, now),
        (now) => work.sweep(now),
        (now) => expireCoordinations(db, work, now),
        (now) => executions.finishStranded(db, now),
        forgetExpiredSubmits(db),
      ],
      { clock: time, availability: db.availability, log: app.log },
      config.sweepIntervalMs,
    );
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    return {
      url: `http://${host}:${port}`,
      app,
      db,
      clock: time,
      events: bus,
      heartbeats,
      work,
      migrations: applied,
      adminKey,
      async close() {
        // Claims waiting for work and task status waits answer now, so no connection is held open for them.
        work.close();
        tasks.close();
        stopInterrupting();
        await stopSweeper();
        // Requests under way get a moment to finish; a connection still open then
        // (a live stream, a client that keeps its socket) is cut, so shutdown never hangs.
        const cut = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
        await app.close();
        clearTimeout(cut);
        await heartbeats.close();
        // The spans still waiting are sent now.
        await tracing.shutdown().catch(() => {});
        await bus.close();
        time.close();
        await db.close();
      },
    };
  } catch (error) {
    await events?.close();
    clock?.close();
    await db.close();
    throw error;
  }
}

import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { bootstrapAdminKey, type AdminKeyBootstrap } from './auth/bootstrap.ts';
import type { ServerConfig } from './config.ts';
import { Database } from './db/database.ts';
import { migrateDatabase } from './db/migrate.ts';
import { connectEvents, type EventBus } from './events.ts';
import { HeartbeatBuffer } from './swarms/heartbeats.ts';
import { databaseTarget } from './db/target.ts';
import { startSweeper } from './work/sweeper.ts';

/** How long shutdown waits for open connections before it closes them. */
const CLOSE_GRACE_MS = 2000;

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  db: Database;
  /** What happened, as this instance hears it (from every instance on PostgreSQL). */
  events: EventBus;
  migrations: string[];
  adminKey: AdminKeyBootstrap;
  close(): Promise<void>;
}

/** Migrate, connect, make sure an admin key exists, and listen. */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const target = databaseTarget(config.databaseUrl, config.dataDir);
  const { applied } = await migrateDatabase(target);
  const db = await Database.connect(target);
  let events: EventBus | null = null;
  try {
    const adminKey = await bootstrapAdminKey(db, { dataDir: config.dataDir, configuredAdmins: config.adminApiKeys.length > 0 });
    const bus = await connectEvents(target, (error) => console.error('aitbc-server: event bus:', error.message));
    events = bus;
    const heartbeats = new HeartbeatBuffer(db, config.heartbeatFlushMs, (error) =>
      console.error('aitbc-server: heartbeat flush:', (error as Error).message),
    );
    const app = await buildApp({ config, db, events: bus, heartbeats });
    await app.listen({ host: config.host, port: config.port });
    const stopSweeper = startSweeper(db, heartbeats, bus, config.sweepIntervalMs, app.log);
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    return {
      url: `http://${host}:${port}`,
      app,
      db,
      events: bus,
      migrations: applied,
      adminKey,
      async close() {
        await stopSweeper();
        // Requests under way get a moment to finish; a connection still open then
        // (a live stream, a client that keeps its socket) is cut, so shutdown never hangs.
        const cut = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
        await app.close();
        clearTimeout(cut);
        await heartbeats.close();
        await bus.close();
        await db.close();
      },
    };
  } catch (error) {
    await events?.close();
    await db.close();
    throw error;
  }
}

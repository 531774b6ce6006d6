import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { bootstrapAdminKey, type AdminKeyBootstrap } from './auth/bootstrap.ts';
import type { ServerConfig } from './config.ts';
import { Database } from './db/database.ts';
import { migrateDatabase } from './db/migrate.ts';
import { databaseTarget } from './db/target.ts';
import { startSweeper } from './work/sweeper.ts';

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  db: Database;
  migrations: string[];
  adminKey: AdminKeyBootstrap;
  close(): Promise<void>;
}

/** Migrate, connect, make sure an admin key exists, and listen. */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const target = databaseTarget(config.databaseUrl, config.dataDir);
  const { applied } = await migrateDatabase(target);
  const db = await Database.connect(target);
  try {
    const adminKey = await bootstrapAdminKey(db, { dataDir: config.dataDir, configuredAdmins: config.adminApiKeys.length > 0 });
    const app = await buildApp({ config, db });
    await app.listen({ host: config.host, port: config.port });
    const stopSweeper = startSweeper(db, config.sweepIntervalMs, app.log);
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    return {
      url: `http://${host}:${port}`,
      app,
      db,
      migrations: applied,
      adminKey,
      async close() {
        await stopSweeper();
        await app.close();
        await db.close();
      },
    };
  } catch (error) {
    await db.close();
    throw error;
  }
}

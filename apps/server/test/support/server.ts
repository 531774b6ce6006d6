import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.ts';
import type { ServerConfig } from '../../src/config.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';

export interface TestServer {
  kind: TestDatabase['name'];
  url: string;
  /** An admin key configured through AITBC_ADMIN_API_KEYS. */
  adminKey: string;
  server: RunningServer;
  database: TestDatabase;
  /** Issue a key through the API (an owner key unless `options` says otherwise: scope, agents, members, expires_in_seconds, label). */
  keyFor(owner: string, options?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real server on 127.0.0.1 (random port) over a fresh, migrated database of
 * the given kind. Logs are silent unless LOG_LEVEL is set.
 */
export async function startTestServer(
  kind: TestDatabase['name'],
  options: {
    logLevel?: string;
    sweepIntervalMs?: number /** Overrides, e.g. rateLimit or corsOrigins (both off by default here). */;
    config?: Partial<ServerConfig>;
  } = {},
): Promise<TestServer> {
  const database = await createTestDatabase(kind);
  const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-data-'));
  const adminKey = `test-admin-${Math.random().toString(36).slice(2)}`;
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    databaseUrl: database.target.url,
    adminApiKeys: [adminKey],
    bodyLimit: 1024 * 1024,
    logLevel: options.logLevel ?? process.env.LOG_LEVEL ?? 'silent',
    sweepIntervalMs: options.sweepIntervalMs ?? 200,
    heartbeatFlushMs: 100,
    ...options.config,
  });
  const url = server.url;
  return {
    kind,
    url,
    adminKey,
    server,
    database,
    async keyFor(owner: string, options: Record<string, unknown> = {}) {
      const res = await fetch(`${url}/api/v1/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': adminKey },
        body: JSON.stringify({ owner_id: owner, ...options }),
      });
      if (res.status !== 201) throw new Error(`issuing a key for ${owner} failed: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { key: string }).key;
    },
    async close() {
      await server.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

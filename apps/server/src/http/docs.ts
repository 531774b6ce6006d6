/**
 * What the server says about itself: /healthz, the OpenAPI document at
 * /openapi.json, and the docs (Swagger UI) at /docs.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { Database } from '../db/database.ts';
import { checkHealth } from '../health.ts';

export function serveHealth(app: FastifyInstance, db: Database): void {
  app.get('/healthz', async (_req, reply) => {
    const health = await checkHealth(db);
    return reply.code(health.status === 'ok' ? 200 : 503).send(health);
  });
}

export async function serveDocs(app: FastifyInstance, document: unknown): Promise<void> {
  app.get('/openapi.json', async () => document);
  await app.register(swagger, { mode: 'static', specification: { document: document as never } });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}

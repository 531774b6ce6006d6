import { generateOpenApiDocument, type OpenAPIObject } from 'trpc-to-openapi';
import type { AnyRouter } from '@trpc/server';
import type { Meta } from './trpc.ts';

/** tRPC path (e.g. "agent.register") → the status its REST call answers on success. */
export function successStatuses(router: AnyRouter): Map<string, number> {
  const statuses = new Map<string, number>();
  for (const [path, procedure] of Object.entries(router._def.procedures)) {
    const meta = (procedure as { _def: { meta?: Meta } })._def.meta;
    if (meta?.successStatus) statuses.set(path, meta.successStatus);
  }
  return statuses;
}

/** The OpenAPI 3 document, with each operation's real success status (from successStatuses). */
export function openApiDocument(router: AnyRouter, statuses: ReadonlyMap<string, number>): OpenAPIObject {
  const doc = generateOpenApiDocument(router, {
    title: 'aitbc-swarm',
    description: 'Coordination service for AI agents: agent registry, networks, swarms. Authenticate with the X-Api-Key header.',
    version: '0.1.0',
    baseUrl: '/',
    securitySchemes: { ApiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' } },
  });
  const byOperation = new Map<string, number>();
  for (const [path, status] of statuses) byOperation.set(path.replace(/\./g, '-'), status);
  for (const item of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(item as Record<string, { operationId?: string; responses?: Record<string, unknown> }>)) {
      const status = op?.operationId ? byOperation.get(op.operationId) : undefined;
      if (status && op.responses?.['200']) {
        op.responses[String(status)] = op.responses['200'];
        delete op.responses['200'];
      }
    }
  }
  return doc;
}

import { generateOpenApiDocument, type OpenAPIObject } from 'trpc-to-openapi';
import type { AnyRouter } from '@trpc/server';
import type { ProcedureScope } from '@aitbc/core';
import type { Meta } from './trpc.ts';

const SCOPE_WORDS: Record<ProcedureScope, string> = {
  any: 'any key',
  worker: '`worker` (for the agents and members it names), `owner` or `admin`',
  read: '`read`, `owner` or `admin`',
  owner: '`owner` or `admin`',
  admin: '`admin`',
};

/**
 * The operations' tags (each router's `tags`), in the order Swagger UI lists
 * them, with what each group is. An operation whose tag is missing here fails
 * the document's lint (apps/server/test/openapi-lint.test.ts).
 */
const TAGS = [
  { name: 'keys', description: 'API keys: issue, list, rotate and revoke them, and ask whom the presented key acts for (SECURITY.md).' },
  { name: 'audit', description: 'Who issued, rotated or revoked keys, or removed, archived, cancelled or left something.' },
  { name: 'agents', description: 'Your agents: register, list, get, update and deregister them.' },
  {
    name: 'agent networks',
    description:
      'Networks of your agents: create and tune them, execute tasks on them (split into subtasks for their workers), follow executions, and read their metrics and recommendations.',
  },
  {
    name: 'workers',
    description:
      'The work protocol for an agent’s worker: claim subtasks under a lease (long-polling when none waits), extend the lease, post results or failures, one at a time or batched.',
  },
  {
    name: 'dead letters',
    description:
      'What failed for good: a subtask’s attempts and their errors, the subtasks that failed their execution (dead letters), and the redrive that runs those executions again.',
  },
  {
    name: 'hosts',
    description:
      'Your hosts (agents and members) as verification sees them: checked results, trust and quarantine, and lifting a quarantine (README “Verification”).',
  },
  {
    name: 'swarms',
    description:
      'Swarms: members join and leave, heartbeat and claim work; coordinate a task across selected members (map-reduce, broadcast, pipeline and the legacy strategies), follow it, and decide the consensus of its votes.',
  },
];

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
    description:
      'Coordination service for AI agents: agent registry, networks, swarms. Authenticate with the X-Api-Key header. Each operation’s x-aitbc-scope names the key scope it needs: worker, read, owner or admin (SECURITY.md).',
    version: '0.1.0',
    baseUrl: '/',
    securitySchemes: { ApiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' } },
  });
  doc.info.contact = { name: 'aitbc-swarm maintainers' };
  doc.tags = TAGS;
  declareErrors(doc);
  const byOperation = new Map<string, number>();
  for (const [path, status] of statuses) byOperation.set(path.replace(/\./g, '-'), status);
  const scopes = new Map<string, ProcedureScope>();
  for (const [path, procedure] of Object.entries(router._def.procedures)) {
    const scope = (procedure as { _def: { meta?: Meta } })._def.meta?.scope;
    if (scope) scopes.set(path.replace(/\./g, '-'), scope);
  }
  for (const item of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(item as Record<string, Operation & { operationId?: string; description?: string }>)) {
      if (!op?.operationId) continue;
      const status = byOperation.get(op.operationId);
      if (status && op.responses?.['200']) {
        op.responses[String(status)] = op.responses['200'];
        delete op.responses['200'];
      }
      // The key scope the operation needs, for tools (x-aitbc-scope) and for people (the description).
      const scope = scopes.get(op.operationId);
      if (scope) {
        (op as Record<string, unknown>)['x-aitbc-scope'] = scope;
        op.description = `${op.description ? `${op.description}\n\n` : ''}Key scope: ${SCOPE_WORDS[scope]}.`;
      }
    }
  }
  return doc;
}

/**
 * Every operation's error answers, declared from what the server does for
 * any route of its kind: 400 and 422 for one that takes input (malformed, and
 * well-formed but over a limit: docs/limits.md), 401 and 403 for one that
 * needs a key, 404 for one with a path parameter, 413 and 415 for one with a
 * body, 429 for all (rate limits), 500. A procedure's own answers (409 for
 * conflicts, 404 for a body naming what does not exist) come from its
 * `errorResponses` meta. The fuzz suite checks that every status a route
 * answers is declared here.
 */
function declareErrors(doc: OpenAPIObject): void {
  const described: Record<number, string> = {
    400: 'Invalid input: the message names the field',
    401: 'Missing, unknown, revoked or expired API key',
    403: 'The key’s scope does not reach this (see the operation’s x-aitbc-scope)',
    404: 'Not found, or not yours',
    413: 'Request body over the body limit',
    415: 'Request body that is not JSON',
    422: 'Well-formed input over a size limit (docs/limits.md)',
    429: 'Rate limited: retry after the Retry-After header’s seconds',
    500: 'Internal server error',
  };
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item as Record<string, Operation>)) {
      if (!op?.responses) continue;
      // The error body's schema, as trpc-to-openapi writes it for its own error answers.
      const shape = Object.entries(op.responses).find(([status]) => Number(status) >= 400)?.[1] ?? errorShape(doc);
      const takesInput = (op.parameters?.length ?? 0) > 0 || op.requestBody !== undefined;
      const codes = [
        ...(takesInput ? [400, 422] : []),
        ...(op.security?.length ? [401, 403] : []),
        ...(path.includes('{') ? [404] : []),
        // Any body sent is parsed, declared or not: too large, or not JSON.
        ...(method !== 'get' ? [413, 415] : []),
        429,
        500,
      ];
      for (const code of codes) op.responses[String(code)] ??= { ...(shape as object), description: described[code] };
      for (const [code, description] of Object.entries(ROUTE_ERRORS[`${method.toUpperCase()} ${path}`] ?? {}))
        op.responses[code] = { ...(shape as object), description };
    }
  }
}

const LEASE_LOST = 'The lease is no longer held: expired, ended, or handed on (the message says which)';
const NETWORK = '/api/v1/agents/networks';
const IDEMPOTENCY_MISMATCH = 'The Idempotency-Key was used (within 24 h) for a different request';

/** What a route answers beyond its kind's errors (declareErrors): each from the domain error its procedure raises. */
const ROUTE_ERRORS: Record<string, Record<number, string>> = {
  'POST /api/v1/agents': { 409: 'You already have an agent of that name' },
  'PATCH /api/v1/agents/{agent_id}': { 409: 'You already have an agent of that name' },
  [`POST ${NETWORK}`]: { 404: 'An agent named in `agents` is not found, or not yours', 422: IDEMPOTENCY_MISMATCH },
  [`PATCH ${NETWORK}/{network_id}`]: { 404: 'An agent named in `agents` is not found, or not yours', 409: 'The network is archived' },
  [`DELETE ${NETWORK}/{network_id}`]: { 409: 'The network is already archived' },
  [`POST ${NETWORK}/{network_id}/execute`]: {
    409: 'The network is paused or archived, or none of its agents exist any more (or every one is quarantined)',
    422: `No agent of the network has the capabilities a subtask requires, or the task is over a size limit; or: ${IDEMPOTENCY_MISMATCH}`,
  },
  [`POST ${NETWORK}/{network_id}/executions/{execution_id}/cancel`]: { 409: 'The execution has already ended' },
  'POST /api/v1/subtasks/{subtask_id}/result': { 409: LEASE_LOST },
  'POST /api/v1/subtasks/{subtask_id}/fail': { 409: LEASE_LOST },
  'POST /api/v1/subtasks/{subtask_id}/heartbeat': { 409: LEASE_LOST },
  'POST /swarm/members/{member_id}/claim': { 409: 'The member left its swarm; join again for a new member id' },
  'POST /swarm/members/{member_id}/claims': { 409: 'The member left its swarm; join again for a new member id' },
  'POST /swarm/members/{member_id}/heartbeat': { 409: 'The member left its swarm; join again for a new member id' },
  'POST /swarm/join': { 404: 'The swarm_id given is not found, or not yours' },
  'POST /api/v1/hosts/{host_id}/lift': { 409: 'The host is not quarantined' },
  'POST /swarm/leave': { 404: 'The swarm or member is not found, or not yours', 409: 'The member (or every member) already left' },
  'POST /swarm/{swarm_id}/leave': { 409: 'Every one of your members in the swarm already left' },
  'POST /swarm/coordinate': {
    404: 'The swarm_id given is not found, or not yours',
    409: 'Too few eligible members (the message names the filters and how many qualified), or the task_id is taken',
    422: IDEMPOTENCY_MISMATCH,
  },
  'POST /swarm/consensus': {
    404: 'No task of yours has that task_id',
    409: 'The task’s members do not vote (not a broadcast or consensus task)',
  },
  'POST /swarm/tasks/{task_id}/cancel': { 409: 'The task has already ended' },
  'DELETE /api/v1/keys/{key_id}': { 409: 'The key is already revoked, or is the key this request was made with' },
  'POST /api/v1/keys': {
    404: 'An agent or member named in `agents` or `members` is not found, or not yours',
    409: 'A key was already issued under this Idempotency-Key (the message names it; its secret is shown only once)',
    422: IDEMPOTENCY_MISMATCH,
  },
};

interface Operation {
  parameters?: unknown[];
  requestBody?: unknown;
  security?: unknown[];
  responses?: Record<string, unknown>;
}

/** Some operation's declared error answer, to copy its body schema from. */
function errorShape(doc: OpenAPIObject): unknown {
  for (const item of Object.values(doc.paths ?? {}))
    for (const op of Object.values(item as Record<string, Operation>))
      for (const [status, response] of Object.entries(op?.responses ?? {})) if (Number(status) >= 400) return response;
  return { description: 'Error' };
}

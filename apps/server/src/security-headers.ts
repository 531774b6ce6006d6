// Security headers on every response, CORS only when it is configured, and a
// guard on JSON input: nesting so deep that re-serialising it (as the tRPC
// adapters do) would exhaust the stack is a 422, and text with U+0000 (which
// PostgreSQL cannot store or compare) a 400, on both database kinds alike.
// Request logs show URLs with anything that looks like a key redacted.
//
// The API answers JSON and serves two pages of its own (/docs, Swagger UI,
// and the dashboard when it is served from here), both loading only scripts
// and styles from this origin. The policy below allows exactly that.
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hookError } from './rate-limit.ts';

/**
 * Deepest nesting of arrays and objects a JSON body may have (the body itself
 * is level 1). Tasks and results have their own, lower limit inside it
 * (MAX_JSON_DEPTH in @aitbc/core); this one stops what would otherwise reach
 * code that recurses. See docs/limits.md.
 */
export const MAX_BODY_DEPTH = 64;

/**
 * What is wrong with a parsed JSON value, walked without recursion: nesting
 * deeper than `limit`, or U+0000 in a string or key. null: nothing.
 */
export function jsonProblem(value: unknown, limit: number): 'depth' | 'nul' | null {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > limit) return 'depth';
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return 'nul';
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (!Array.isArray(v) && Object.keys(v).some((k) => k.includes('\u0000'))) return 'nul';
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return null;
}

/** Query parameters whose values are secrets if a client sends one there (the server reads keys only from X-Api-Key). */
const SECRET_PARAMS = /^(api[-_]?key|x-api-key|key|token|access[-_]?token|auth|authorization|password|secret)$/i;

/** `url` with key-looking values redacted: secret-named query parameters, and anything shaped like an issued key (`aitbc_…`). */
export function redactUrl(url: string): string {
  const [path = '', query] = url.split('?', 2);
  const redactKeys = (text: string) => text.replace(/aitbc_[A-Za-z0-9_%-]+/g, 'aitbc_[redacted]');
  if (query === undefined) return redactKeys(path);
  const params = query.split('&').map((pair) => {
    const [name = '', value] = pair.split('=', 2);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      // keep it as sent
    }
    return value !== undefined && SECRET_PARAMS.test(decoded) ? `${name}=[redacted]` : pair;
  });
  return redactKeys(`${path}?${params.join('&')}`);
}

/** `text` as JSON, or undefined when it is not JSON (tRPC bodies arrive unparsed; tRPC answers malformed ones itself). */
function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The input a tRPC GET carries in its query string (`?input=<json>`), parsed; undefined when there is none or it is not JSON. */
function trpcQueryInput(url: string): unknown {
  const query = url.split('?')[1];
  const input = query ? new URLSearchParams(query).get('input') : null;
  return input === null ? undefined : parsedOrUndefined(input);
}

export interface SecurityHeadersOptions {
  /** Origins allowed to call the API from a browser; empty: no CORS headers at all. */
  corsOrigins?: readonly string[];
}

/**
 * Scripts, styles, API calls (fetch, EventSource) and images only from this
 * origin; inline styles are allowed (Swagger UI and React set style
 * attributes), inline scripts are not. No framing, no plugins, no <base>
 * rewriting, forms post only here.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "base-uri 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-permitted-cross-domain-policies': 'none',
};

/** The onRequest hook that puts SECURITY_HEADERS on a reply (one precomputed object; bench/plugin-probe.ts weighs it against @fastify/helmet). */
export async function setSecurityHeaders(_req: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.headers(SECURITY_HEADERS);
}

async function securityHeaders(app: FastifyInstance, options: SecurityHeadersOptions): Promise<void> {
  // onRequest, so the headers are on the reply before anything can answer: errors, 404s and 429s included.
  app.addHook('onRequest', setSecurityHeaders);
  // Answers (keys among them) are not for caches to keep, unless a route says otherwise (static files do).
  app.addHook('onSend', async (_req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  app.addHook('preValidation', async (req: FastifyRequest, reply: FastifyReply) => {
    const inUrl = /%00/.test(req.url)
      ? 'nul'
      : req.method === 'GET' && req.url.startsWith('/trpc/')
        ? jsonProblem(trpcQueryInput(req.url), MAX_BODY_DEPTH)
        : null;
    const problem = inUrl ?? jsonProblem(typeof req.body === 'string' ? parsedOrUndefined(req.body) : req.body, MAX_BODY_DEPTH);
    if (problem === 'depth') {
      const message = `The JSON input nests deeper than ${MAX_BODY_DEPTH} levels (the limit; see docs/limits.md)`;
      return reply.code(422).send(hookError(req, 'UNPROCESSABLE_CONTENT', 422, message));
    }
    if (problem === 'nul')
      return reply.code(400).send(hookError(req, 'BAD_REQUEST', 400, 'Invalid input: text may not contain the NUL character (U+0000)'));
  });

  const origins = options.corsOrigins ?? [];
  if (origins.length > 0) {
    await app.register(cors, {
      origin: [...origins],
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['content-type', 'x-api-key', 'x-request-id'],
      exposedHeaders: ['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining'],
      credentials: false,
      maxAge: 600,
    });
  }
}

/** Registered at the root, so its hooks cover every route (fastify-plugin skips encapsulation). */
export default fp(securityHeaders, { name: 'aitbc-security-headers', fastify: '5.x' });

// Rate limiting: a token bucket per API key, and per client IP for requests
// without a valid key. Each bucket holds a minute's allowance and refills
// continuously, so a client may burst up to its limit and then sustain
// limit/60 requests a second. An empty bucket answers 429 with Retry-After.
//
// The buckets live in this process's memory: with several instances behind
// a load balancer each instance counts on its own, so a client's effective
// limit is the configured one times the number of instances it reaches (see
// docs/limits.md). /healthz is never counted.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hashKey } from './auth/api-keys.ts';

export interface RateLimitOptions {
  /** Requests per minute per API key. */
  perKey: number;
  /** Requests per minute per client IP for requests without a valid key; null: unlimited. */
  perIp: number | null;
  /** Whether a presented key is valid (the server's authenticator; cached there). */
  isValidKey(key: string): Promise<boolean>;
  /** The clock, in ms (tests move it). */
  now?: () => number;
}

/** Paths never counted: load balancers and monitors poll them. */
const UNCOUNTED = new Set(['/healthz']);
/** Buckets kept before idle (full) ones are dropped. */
const MAX_BUCKETS = 100_000;
const MINUTE_MS = 60_000;

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * The token buckets of one kind of client. `take` spends a token and
 * answers how long to wait when there is none.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = limit / MINUTE_MS;
  }

  /** Spend one token of `id`'s bucket: the tokens left, or the ms until one is there. */
  take(id: string): { ok: true; remaining: number } | { ok: false; retryAfterMs: number } {
    const now = this.now();
    let bucket = this.buckets.get(id);
    if (!bucket) {
      if (this.buckets.size >= MAX_BUCKETS) this.prune(now);
      bucket = { tokens: this.limit, at: now };
      this.buckets.set(id, bucket);
    } else {
      bucket.tokens = Math.min(this.limit, bucket.tokens + (now - bucket.at) * this.perMs);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true, remaining: Math.floor(bucket.tokens) };
    }
    return { ok: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / this.perMs) };
  }

  /** Drop buckets that have refilled (they are the same as no bucket); if none has, drop them all. */
  prune(now = this.now()): void {
    for (const [id, b] of this.buckets) if (b.tokens + (now - b.at) * this.perMs >= this.limit) this.buckets.delete(id);
    if (this.buckets.size >= MAX_BUCKETS) this.buckets.clear();
  }

  get size(): number {
    return this.buckets.size;
  }
}

/** tRPC's JSON-RPC numbers for the errors answered here, before any procedure runs. */
const TRPC_ERROR_NUMBERS = { BAD_REQUEST: -32600, TOO_MANY_REQUESTS: -32029, UNPROCESSABLE_CONTENT: -32022 } as const;

/**
 * An error answered by a hook: `{code, message}` for REST; on /trpc the
 * envelope tRPC clients read (one per call of a batch), so they see the code.
 */
export function hookError(req: FastifyRequest, code: keyof typeof TRPC_ERROR_NUMBERS, httpStatus: number, message: string): unknown {
  const [path = '', query = ''] = req.url.split('?');
  if (!path.startsWith('/trpc/')) return { code, message };
  let procedures: string[];
  try {
    procedures = decodeURIComponent(path.slice('/trpc/'.length)).split(',');
  } catch {
    procedures = [path.slice('/trpc/'.length)];
  }
  const envelope = (procedure: string) => ({
    error: { message, code: TRPC_ERROR_NUMBERS[code], data: { code, httpStatus, path: procedure } },
  });
  return new URLSearchParams(query).get('batch') === '1' ? procedures.map(envelope) : envelope(procedures[0] ?? '');
}

async function rateLimit(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  const now = options.now ?? Date.now;
  const keys = new TokenBuckets(options.perKey, now);
  const ips = options.perIp === null ? null : new TokenBuckets(options.perIp, now);
  // Idle buckets are dropped now and then, so memory follows the clients active in the last minute.
  const pruner = setInterval(() => {
    keys.prune();
    ips?.prune();
  }, MINUTE_MS);
  pruner.unref();
  app.addHook('onClose', async () => clearInterval(pruner));

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (UNCOUNTED.has(req.url.split('?')[0]!)) return;
    const header = req.headers['x-api-key'];
    const key = (Array.isArray(header) ? header[0] : header)?.trim();
    // An unknown key counts against the IP: making up keys does not buy more requests.
    const valid = key ? await options.isValidKey(key) : false;
    const buckets = valid ? keys : ips;
    if (!buckets) return;
    const taken = buckets.take(valid ? `key:${hashKey(key!)}` : `ip:${req.ip}`);
    reply.header('x-ratelimit-limit', buckets.limit);
    if (taken.ok) {
      reply.header('x-ratelimit-remaining', taken.remaining);
      return;
    }
    const seconds = Math.max(1, Math.ceil(taken.retryAfterMs / 1000));
    const who = valid ? 'this API key' : `clients without a valid API key from ${req.ip}`;
    const message = `Rate limit exceeded: ${buckets.limit} requests per minute for ${who}; retry in ${seconds} s (see docs/limits.md)`;
    reply.header('x-ratelimit-remaining', 0);
    reply.header('retry-after', seconds);
    return reply.code(429).send(hookError(req, 'TOO_MANY_REQUESTS', 429, message));
  });
}

/** Registered at the root, so its hook covers every route (fastify-plugin skips encapsulation). */
export default fp(rateLimit, { name: 'aitbc-rate-limit', fastify: '5.x' });

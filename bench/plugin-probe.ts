// A bare Fastify app with one of a pair of equivalent plugins, for the
// overhead scenario's side-by-side comparison of the server's hand-written
// security headers and rate limiting with the well-kept Fastify plugins that
// do the same: `tsx bench/plugin-probe.ts <variant>`. Each variant answers
// any POST with the JSON body it was sent (as bench/bare.mjs does) and prints
// `listening <port>`.
//
//   headers-ours       the server's onRequest hook: one precomputed header object
//   headers-helmet     @fastify/helmet set to send exactly the same headers
//   ratelimit-ours     the server's token buckets, per API key
//   ratelimit-fastify  @fastify/rate-limit, per API key, in memory
//
// Limits are far above what the bench sends: what is measured is the cost of
// counting, not of refusing.
import { createRequire } from 'node:module';
import rateLimit from '../apps/server/src/rate-limit.ts';
import { CONTENT_SECURITY_POLICY, setSecurityHeaders } from '../apps/server/src/security-headers.ts';

const fromServer = createRequire(new URL('../apps/server/package.json', import.meta.url));
const Fastify = fromServer('fastify') as typeof import('fastify').default;
const LIMIT = 1_000_000_000;

const variant = process.argv[2];
const app = Fastify({ logger: false });

switch (variant) {
  case 'headers-ours':
    app.addHook('onRequest', setSecurityHeaders);
    break;
  case 'headers-helmet': {
    const directives = Object.fromEntries(
      CONTENT_SECURITY_POLICY.split('; ').map((d) => {
        const [name = '', ...values] = d.split(' ');
        return [name, values];
      }),
    );
    await app.register(fromServer('@fastify/helmet'), {
      contentSecurityPolicy: { useDefaults: false, directives },
      xContentTypeOptions: true,
      xFrameOptions: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      crossOriginOpenerPolicy: { policy: 'same-origin' },
      crossOriginResourcePolicy: { policy: 'same-origin' },
      xPermittedCrossDomainPolicies: { permittedPolicies: 'none' },
      // Not in the server's set.
      crossOriginEmbedderPolicy: false,
      originAgentCluster: false,
      strictTransportSecurity: false,
      xDnsPrefetchControl: false,
      xDownloadOptions: false,
      xXssProtection: false,
    });
    break;
  }
  case 'ratelimit-ours':
    await app.register(rateLimit, { perKey: LIMIT, perIp: LIMIT, isValidKey: async () => true });
    break;
  case 'ratelimit-fastify':
    await app.register(fromServer('@fastify/rate-limit'), {
      max: LIMIT,
      timeWindow: 60_000,
      keyGenerator: (req: { headers: Record<string, unknown>; ip: string }) => String(req.headers['x-api-key'] ?? req.ip),
    });
    break;
  default:
    console.error('usage: tsx bench/plugin-probe.ts headers-ours|headers-helmet|ratelimit-ours|ratelimit-fastify');
    process.exit(2);
}

app.post('/*', async (req) => ({ ok: true, got: req.body ?? {} }));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
console.log(`listening ${typeof address === 'object' && address ? address.port : 0}`);

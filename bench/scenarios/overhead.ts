/**
 * Every request's fixed cost, side by side in one run: bare node:http and Fastify baselines, the hand-written plugins against
 * their @fastify counterparts, then the server's 404, /healthz, a join and a swarm status, each driven by wrk in turn.
 */
import { joinMembers } from '../api.ts';
import { hasWrk, wrk } from '../drivers.ts';
import { loopDelayBuckets, loopDelayP99 } from '../metrics.ts';
import { peakRss } from '../processes.ts';
import type { Scenario } from '../scenario.ts';
import { startBare } from '../servers.ts';
import { round } from '../stats.ts';

export const overhead: Scenario = {
  name: 'overhead',
  async run(ctx) {
    const { base, key, servers, rows, notes } = ctx;
    const SECONDS = ctx.settings.seconds;
    // Every request's fixed cost, side by side in one run: a bare node:http handler and a bare Fastify app started
    // here, then the server on a 404, /healthz, a join and a swarm status, each driven by wrk in turn.
    if (!hasWrk) {
      notes.push('overhead: SKIPPED, wrk is not installed (Debian: apt-get install wrk)');
    } else {
      const members = await joinMembers(base, key, 'bench-overhead', 100);
      const targets: { name: string; url: string; method: 'GET' | 'POST'; path: string; body?: unknown; server: boolean }[] = [];
      const bareNode = await startBare('node');
      const bareFastify = await startBare('fastify');
      // The server's hand-written plugins against the Fastify plugins that do the same, each alone on a bare app.
      const probes = await Promise.all(
        ['headers-ours', 'headers-helmet', 'ratelimit-ours', 'ratelimit-fastify'].map(async (kind) => ({
          kind,
          ...(await startBare(kind)),
        })),
      );
      try {
        targets.push(
          {
            name: 'bare node:http POST',
            url: bareNode.url,
            method: 'POST',
            path: '/echo',
            body: { role: 'monitor', capability: 'x' },
            server: false,
          },
          {
            name: 'bare Fastify POST',
            url: bareFastify.url,
            method: 'POST',
            path: '/echo',
            body: { role: 'monitor', capability: 'x' },
            server: false,
          },
          ...probes.map((p) => ({
            name: `Fastify + ${
              {
                'headers-ours': 'security headers (ours)',
                'headers-helmet': 'security headers (@fastify/helmet)',
                'ratelimit-ours': 'rate limit (ours)',
                'ratelimit-fastify': 'rate limit (@fastify/rate-limit)',
              }[p.kind]
            } POST`,
            url: p.url,
            method: 'POST' as const,
            path: '/echo',
            body: { role: 'monitor', capability: 'x' },
            server: false,
          })),
          { name: 'server: unknown path (404)', url: base, method: 'GET', path: '/no/such/path', server: true },
          { name: 'server: GET /healthz', url: base, method: 'GET', path: '/healthz', server: true },
          {
            name: 'server: POST /swarm/join',
            url: base,
            method: 'POST',
            path: '/swarm/join',
            body: { role: 'monitor', capability: 'bench-overhead-join' },
            server: true,
          },
          {
            name: 'server: GET /swarm/status',
            url: base,
            method: 'GET',
            path: `/swarm/status?swarm_id=${members[0]!.swarm_id}`,
            server: true,
          },
        );
        let bareRate = 0;
        let fastifyRate = 0;
        for (const t of targets) {
          const before = t.server ? await loopDelayBuckets(base) : null;
          const r = wrk(SECONDS, t.url, t.method, t.path, t.body, { 'x-api-key': key });
          const delay = before ? loopDelayP99(before, await loopDelayBuckets(base)) : null;
          if (!t.server && t.name.startsWith('bare node')) bareRate = r.rate;
          if (!t.server && t.name.startsWith('bare Fastify')) fastifyRate = r.rate;
          const expectedStatus = t.path === '/no/such/path' ? 404 : 200;
          rows.push({
            scenario: `overhead: ${t.name}`,
            unit: 'req/s',
            count: Math.round(r.rate * SECONDS),
            rate: Math.round(r.rate),
            p50: round(r.p50),
            p95: 0,
            p99: round(r.p99),
            // A 404 is the answer asked for there; anything else not 2xx is an error.
            errors: r.errors + (expectedStatus === 404 ? 0 : r.non2xx),
            peakRssMiB: t.server ? peakRss(servers) : 0,
          });
          notes.push(
            `overhead ${t.name}: ${(r.rate / bareRate).toFixed(3)}× bare node:http` +
              (t.name.startsWith('Fastify +') ? ` (${(r.rate / fastifyRate).toFixed(3)}× bare Fastify)` : '') +
              `, p99/p50 ${(r.p99 / r.p50).toFixed(1)}` +
              (delay !== null ? `, event-loop delay p99 ≤ ${delay} ms` : ''),
          );
        }
      } finally {
        bareNode.stop();
        bareFastify.stop();
        for (const p of probes) p.stop();
      }
    }
  },
};

import { PerformanceObserver } from 'node:perf_hooks';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { MEMBER_STATUSES } from '@aitbc/core';
import type { ApiKeyAuthenticator } from './auth/api-keys.ts';
import type { Database } from './db/database.ts';
import { raw, sql, statementCounter } from './db/sql.ts';
import { databaseFault, uncaughtFaults } from './db/faults.ts';
import type { Outcomes } from './work/outcomes.ts';
import { openWorkTotal } from './work/open-work.ts';
import { appRouter } from './routers/index.ts';

export interface MetricsOptions {
  db: Database;
  auth: ApiKeyAuthenticator;
  /** What the work engine ended and decided in this process. */
  outcomes: Outcomes;
  /** false (AITBC_METRICS=off): no /metrics route, and nothing is measured. */
  enabled: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const UNMATCHED = '(unmatched)';

/**
 * The route a request took, as a pattern: never the raw URL, whose ids would
 * make one series per object. tRPC calls are `/trpc/{procedure}` (a batch
 * lists its procedures), REST calls their OpenAPI path.
 */
function routeLabeller(): (req: FastifyRequest) => string {
  const procedures = new Set(Object.keys(appRouter._def.procedures));
  // Route patterns as labels, converted once each.
  const labels = new Map<string, string>();
  const trpcLabel = (raw: string) => {
    const names = [...new Set(raw.split(','))].sort();
    // A batch is labelled by what it called; an unknown name or a long batch would grow the series without bound.
    return names.length <= 4 && names.every((n) => procedures.has(n)) ? `/trpc/${names.join(',')}` : '/trpc/(other)';
  };
  return (req) => {
    const route = req.routeOptions.url;
    if (route === undefined) return UNMATCHED;
    if (route === '/trpc/:path') return trpcLabel(String((req.params as { path?: string }).path ?? ''));
    // A REST route is its OpenAPI path: `/swarm/members/:member_id/claim` is `/swarm/members/{member_id}/claim`.
    const label = labels.get(route) ?? route.replace(/:([^/]+)/g, '{$1}');
    labels.set(route, label);
    return label;
  };
}

function metricsOf(registry: Registry, outcomes: Outcomes, db: Database) {
  const labelNames = ['method', 'route', 'status'] as const;
  return {
    requests: new Counter({
      name: 'aitbc_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames,
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'aitbc_http_request_duration_seconds',
      help: 'HTTP request latency in seconds, by method, route pattern and status (a subscription stream counts its whole life)',
      labelNames,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    members: new Gauge({
      name: 'aitbc_swarm_members',
      help: 'Swarm members by state (every owner)',
      labelNames: ['state'],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'aitbc_queue_depth',
      help: 'Subtasks waiting to be claimed (pending or assigned), by source (network or swarm)',
      labelNames: ['source'],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'aitbc_subtasks_in_flight',
      help: 'Subtasks leased to a worker now, by source (network or swarm)',
      labelNames: ['source'],
      registers: [registry],
    }),
    leasesExpired: new Counter({
      name: 'aitbc_leases_expired_total',
      help: 'Leases this instance ended because their time ran out (the sweeper); a failed member’s leases are in aitbc_leases_released_total',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(outcomes.leasesExpired);
      },
    }),
    leasesReleased: new Counter({
      name: 'aitbc_leases_released_total',
      help: 'Leases this instance took from a swarm member before they ran out, by reason: member_failed (no heartbeat) or member_left',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(outcomes.leasesReleased)) this.inc({ reason }, n);
      },
    }),
    consensus: new Counter({
      name: 'aitbc_consensus_total',
      help: 'Voting tasks (consensus, broadcast) this instance decided, by outcome: reached, or failed (including at the deadline)',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [outcome, n] of Object.entries(outcomes.consensus)) this.inc({ outcome }, n);
      },
    }),
    attemptsTimedOut: new Counter({
      name: 'aitbc_attempts_timed_out_total',
      help: 'Attempts this instance ended because they ran past max_attempt_seconds, whatever their heartbeats said (also in aitbc_leases_expired_total)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(outcomes.attemptsTimedOut);
      },
    }),
    retries: new Counter({
      name: 'aitbc_retries_total',
      help: 'Failed subtasks by what followed, on this instance: delayed (a retry waiting out its backoff), dead (failed for good: a dead letter), redriven (re-queued by a redrive)',
      labelNames: ['event'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ event: 'delayed' }, outcomes.retriesDelayed);
        this.inc({ event: 'dead' }, outcomes.deadLettered);
        this.inc({ event: 'redriven' }, outcomes.redriven);
      },
    }),
    stolen: new Counter({
      name: 'aitbc_subtasks_stolen_total',
      help: 'Unclaimed subtasks an idle agent or member took from another assignee (work stealing)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(outcomes.stolen);
      },
    }),
    backups: new Counter({
      name: 'aitbc_backups_total',
      help: 'Speculative backup copies of running subtasks, by event: launched, or won (its result came first and the other copy was cancelled)',
      labelNames: ['event'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ event: 'launched' }, outcomes.backups.launched);
        this.inc({ event: 'won' }, outcomes.backups.won);
      },
    }),
    backupSecondsSaved: new Counter({
      name: 'aitbc_backup_seconds_saved_total',
      help: 'Time backup copies that won saved, estimated: each beat a copy that had run t without finishing, taken to need at least t more',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(outcomes.backups.secondsSaved);
      },
    }),
    verificationReplicas: new Counter({
      name: 'aitbc_verification_replicas_total',
      help: 'Copies of subtasks this instance launched to verify results, beyond each subtask’s planned copies (README "Verification")',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(outcomes.verification.replicas);
      },
    }),
    verificationDecisions: new Counter({
      name: 'aitbc_verification_decisions_total',
      help: 'Verified subtasks this instance decided, by outcome: quorum (copies agreed), trust (a trusted host, not spot-checked) or inconclusive',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        for (const outcome of ['quorum', 'trust', 'inconclusive'] as const) this.inc({ outcome }, outcomes.verification[outcome]);
      },
    }),
    invalidResults: new Counter({
      name: 'aitbc_invalid_results_total',
      help: 'Results this instance found invalid: they disagreed with the result a quorum of copies validated',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(outcomes.verification.invalid);
      },
    }),
    quarantines: new Counter({
      name: 'aitbc_hosts_quarantined_total',
      help: 'Hosts (agents or members) this instance quarantined because their results kept failing validation',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(outcomes.verification.quarantined);
      },
    }),
    hosts: new Gauge({
      name: 'aitbc_hosts',
      help: 'Hosts with a validation record, by state: quarantined now, or trusted (every owner)',
      labelNames: ['state'],
      registers: [registry],
    }),
    overhead: new Gauge({
      name: 'aitbc_verification_compute_overhead',
      help: 'Results run for verified subtasks ÷ verified subtasks decided (the work run ÷ the work needed; NaN before any), every owner',
      registers: [registry],
    }),
    dbUnits: new Histogram({
      name: 'aitbc_db_unit_duration_seconds',
      help: 'Database units of work (a transaction, or a run outside one) in seconds, including the wait for the SQLite gate or a pool connection',
      labelNames: ['kind', 'ok'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    statements: new Counter({
      name: 'aitbc_db_statements_total',
      help: 'SQL statements this instance sent (raw and through Prisma; BEGIN, COMMIT and savepoints not counted)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(statementCounter.total);
      },
    }),
    loopDelay: new Histogram({
      name: 'aitbc_event_loop_delay_seconds',
      help: 'How late a 10 ms timer fired: the event loop blocked for that long (sampled 100 times a second)',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
      registers: [registry],
    }),
    gcPauses: new Histogram({
      name: 'aitbc_gc_pause_seconds',
      help: 'Garbage collection pauses, by kind (minor, major, incremental, weakcb)',
      labelNames: ['kind'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
      registers: [registry],
    }),
    gateWait: new Histogram({
      name: 'aitbc_db_gate_wait_seconds',
      help: 'How long a unit of work waited for the SQLite gate (units run one at a time there) before it ran',
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    scrapeErrors: new Counter({
      name: 'aitbc_metrics_scrape_errors_total',
      help: 'Scrapes whose database figures could not be read',
      registers: [registry],
    }),
    databaseState: new Gauge({
      name: 'aitbc_database_state',
      help: 'The database as this instance last found it: 1 for the state it is in (up, unreachable, read-only), 0 for the others',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        for (const state of ['up', 'unreachable', 'read-only'] as const) this.set({ state }, db.availability.state === state ? 1 : 0);
      },
    }),
    databaseOutages: new Counter({
      name: 'aitbc_database_outages_total',
      help: 'Times the database stopped answering or taking writes, as this instance found (a cut connection it answered through is not one)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(db.availability.outages);
      },
    }),
    databaseOutageSeconds: new Counter({
      name: 'aitbc_database_outage_seconds_total',
      help: 'Seconds of those outages that ended (the current one is in /healthz as outage_s)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(db.availability.outageSeconds);
      },
    }),
    databaseUncaught: new Counter({
      name: 'aitbc_database_uncaught_errors_total',
      help: 'Database errors that reached no listener and were caught by the last-resort guard (each one a bug; the process went on)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(uncaughtFaults.total);
      },
    }),
  };
}

type Metrics = ReturnType<typeof metricsOf>;

/**
 * The figures that live in the database, read at scrape time (one unit of work): members by state from the
 * swarms' counters, open work from open_work. A few rows per swarm, whatever the number of members and attempts.
 */
async function readRecords(db: Database, m: Metrics): Promise<void> {
  const sums = raw(MEMBER_STATUSES.map((s) => `SUM("${s}_members") AS "${s}"`).join(', '));
  const now = new Date();
  const verified = (table: string) =>
    sql`SELECT SUM("verify_results") AS "results", SUM("verify_validated" + "verify_inconclusive") AS "decided" FROM ${raw(`"${table}"`)}`;
  const [members, network, swarm, hosts, networks, swarms] = await db.run((_, q) =>
    Promise.all([
      q.one<Record<string, unknown>>(sql`SELECT ${sums} FROM "swarms"`),
      openWorkTotal(q, 'network'),
      openWorkTotal(q, 'swarm'),
      q.one<{ quarantined: unknown; trusted: unknown }>(sql`
        SELECT SUM(CASE WHEN "quarantined_until" > ${now} THEN 1 ELSE 0 END) AS "quarantined",
          SUM(CASE WHEN "trusted" AND NOT ("quarantined_until" IS NOT NULL AND "quarantined_until" > ${now}) THEN 1 ELSE 0 END) AS "trusted"
        FROM "validation_records"`),
      q.one<{ results: unknown; decided: unknown }>(verified('agent_networks')),
      q.one<{ results: unknown; decided: unknown }>(verified('swarms')),
    ]),
  );
  m.hosts.set({ state: 'quarantined' }, Number(hosts?.quarantined ?? 0));
  m.hosts.set({ state: 'trusted' }, Number(hosts?.trusted ?? 0));
  const run = Number(networks?.results ?? 0) + Number(swarms?.results ?? 0);
  const needed = Number(networks?.decided ?? 0) + Number(swarms?.decided ?? 0);
  m.overhead.set(needed > 0 ? run / needed : Number.NaN);
  for (const state of MEMBER_STATUSES) m.members.set({ state }, Number(members?.[state] ?? 0));
  for (const [source, open] of [
    ['network', network],
    ['swarm', swarm],
  ] as const) {
    m.queueDepth.set({ source }, open.pending + open.assigned);
    m.inFlight.set({ source }, open.leased);
  }
}

/**
 * GET /metrics in the Prometheus text format (prom-client): HTTP requests and
 * latency per route pattern, swarm members by state, queue depth and
 * subtasks in flight, leases expired and released, consensus reached and failed, database
 * unit timings, and the process's own (CPU, memory, event loop).
 *
 * Access: an admin API key (X-Api-Key), or no key from the loopback address
 * (a Prometheus on the same host; not a request a proxy forwarded). A
 * non-admin key is refused. AITBC_METRICS=off removes the route (404).
 */
const metrics: FastifyPluginAsync<MetricsOptions> = async (app, { db, auth, enabled, outcomes }) => {
  if (!enabled) return;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const m = metricsOf(registry, outcomes, db);
  const label = routeLabeller();

  const stopObserving = db.observe((kind, seconds, ok) => m.dbUnits.observe({ kind, ok: String(ok) }, seconds));
  const stopGate = db.observeGate((seconds) => m.gateWait.observe(seconds));
  // The event loop's delay: a 10 ms timer, and how late it fires.
  let expected = performance.now() + 10;
  const ticker = setInterval(() => {
    const now = performance.now();
    m.loopDelay.observe(Math.max(0, now - expected) / 1000);
    expected = now + 10;
  }, 10);
  ticker.unref();
  const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
      m.gcPauses.observe({ kind: GC_KINDS[kind] ?? 'other' }, entry.duration / 1000);
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  app.addHook('onClose', async () => {
    stopObserving();
    stopGate();
    clearInterval(ticker);
    gc.disconnect();
  });

  app.addHook('onResponse', async (req, reply) => {
    const labels = { method: req.method, route: label(req), status: String(reply.statusCode) };
    m.requests.inc(labels);
    m.latency.observe(labels, reply.elapsedTime / 1000);
  });

  // Scrapes that arrive together share one read of the records.
  let reading: Promise<void> | null = null;
  const refresh = () =>
    (reading ??= readRecords(db, m).finally(() => {
      reading = null;
    }));

  const refuse = (reply: FastifyReply, status: 401 | 403, message: string) =>
    reply.code(status).send({ code: status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', message });

  app.get('/metrics', async (req, reply) => {
    const header = req.headers['x-api-key'];
    const key = Array.isArray(header) ? header[0] : header;
    if (key !== undefined) {
      const { principal, refused } = await auth.authenticate(key);
      if (!principal) return refuse(reply, 401, refused);
      if (principal.scope !== 'admin') return refuse(reply, 403, '/metrics needs an admin API key (or no key, from 127.0.0.1)');
    } else if (
      !LOOPBACK.has(req.socket.remoteAddress ?? '') ||
      req.headers['x-forwarded-for'] !== undefined ||
      req.headers.forwarded !== undefined
    ) {
      // A reverse proxy on this host connects from loopback too: a forwarded request came from elsewhere.
      return refuse(reply, 401, '/metrics answers without a key only on 127.0.0.1; send an admin key in X-Api-Key');
    }
    try {
      await refresh();
    } catch (err) {
      // The process figures are still worth having; the record-based series keep their last values. An outage is
      // logged once by db/availability.ts, not at every scrape.
      if (!databaseFault(err)) req.log.error({ err }, 'metrics: reading the records failed');
      m.scrapeErrors.inc();
    }
    return reply
      .header('content-type', registry.contentType)
      .header('cache-control', 'no-store')
      .send(await registry.metrics());
  });
};

export const metricsPlugin = fp(metrics, { name: 'aitbc-metrics', fastify: '5.x' });

/**
 * `pnpm tsx bench/layers.ts [target…]`: where a request's CPU time goes, layer by layer.
 *
 * For each target it starts the compiled server (as `pnpm start` runs it) with
 * V8's CPU profiler, drives that one request with wrk (2 threads, 64
 * connections, 5 s), stops the server, and splits the profile's busy samples
 * by the package each frame's code belongs to. Busy CPU time over requests
 * answered is the server's CPU cost per request; the split says which layer
 * spends it. Targets: 404, healthz, join, status, whoami.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledServer, spawnServer } from '../apps/server/test/support/server-process.ts';

const targets = process.argv.slice(2).length ? process.argv.slice(2) : ['404', 'healthz', 'join', 'status'];
const SECONDS = 5;

/** Which layer a profile frame belongs to, from its script URL and function name. */
function layerOf(url: string, fn: string): string {
  const pkg = /node_modules\/(?:\.pnpm\/)?(@?[^/@]+(?:\+[^/@]+)?)/.exec(url)?.[1]?.replace('+', '/');
  if (pkg) {
    if (/^(fastify|find-my-way|avvio|light-my-request|@fastify\/.*|fast-json-stringify|fast-querystring|fastify-plugin)$/.test(pkg))
      return 'fastify';
    if (/^(pino|sonic-boom|pino-std-serializers|fast-redact|thread-stream)$/.test(pkg)) return 'logging (pino)';
    if (pkg === 'trpc-to-openapi' || pkg.startsWith('zod-openapi')) return 'REST adapter (trpc-to-openapi)';
    if (pkg === '@trpc/server') return 'tRPC';
    if (pkg === 'zod') return 'zod';
    if (pkg.startsWith('@prisma') || pkg === 'prisma') return 'Prisma';
    if (pkg === 'better-sqlite3' || pkg === 'pg' || pkg.startsWith('pg-')) return 'database driver';
    if (pkg === 'prom-client') return 'metrics (prom-client)';
    return `other: ${pkg}`;
  }
  if (url.includes('aitbc-server.mjs')) return 'aitbc-server (our code)';
  if (fn === '(garbage collector)') return 'garbage collection';
  if (url.startsWith('node:internal/deps/undici') || url.includes('undici')) return 'undici (fetch Request/Response)';
  if (url.startsWith('node:') || fn === 'writev' || fn === 'runMicrotasks') return 'Node (http, net, streams, promises)';
  return `native: ${fn || '(anonymous)'}`;
}

async function call(base: string, key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return res.json() as Promise<any>;
}

function wrk(url: string, method: string, body: unknown, key: string): number {
  const script = join(tmpdir(), `aitbc-layers-${process.pid}.lua`);
  writeFileSync(
    script,
    [
      `wrk.method = "${method}"`,
      `wrk.headers["x-api-key"] = "${key}"`,
      'wrk.headers["content-type"] = "application/json"',
      body ? `wrk.body = ${JSON.stringify(JSON.stringify(body))}` : '',
      'done = function(s) io.write(string.format("REQUESTS %d\\n", s.requests)) end',
    ].join('\n'),
  );
  const out = execFileSync('wrk', ['-t2', '-c64', `-d${SECONDS}s`, '-s', script, url], { encoding: 'utf8' });
  rmSync(script, { force: true });
  return Number(/REQUESTS (\d+)/.exec(out)![1]);
}

const rows: { target: string; perRequestUs: number; rate: number; layers: Map<string, number> }[] = [];
// `--profile FILE`: split an existing profile (e.g. from `pnpm bench --cpu-prof`) by layer, as shares of its busy time.
if (process.argv[2] === '--profile') {
  const p = JSON.parse(readFileSync(process.argv[3]!, 'utf8')) as {
    nodes: { id: number; callFrame: { url: string; functionName: string } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const node = new Map(p.nodes.map((n) => [n.id, n]));
  const layers = new Map<string, number>();
  let busy = 0;
  p.samples.forEach((id, i) => {
    const f = node.get(id)!.callFrame;
    if (f.functionName === '(idle)' || f.functionName === '(program)') return;
    const layer = layerOf(f.url, f.functionName);
    layers.set(layer, (layers.get(layer) ?? 0) + (p.timeDeltas[i] ?? 0));
    busy += p.timeDeltas[i] ?? 0;
  });
  for (const [layer, us] of [...layers].sort((a, b) => b[1] - a[1]).slice(0, 16))
    console.log(`${((us / busy) * 100).toFixed(1).padStart(6)} %  ${layer}`);
  process.exit(0);
}
for (const target of targets) {
  const dataDir = mkdtempSync(join(tmpdir(), 'aitbc-layers-'));
  const profiles = mkdtempSync(join(tmpdir(), 'aitbc-layers-prof-'));
  const admin = `layers-${process.pid}`;
  const server = await spawnServer(
    {
      HOST: '127.0.0.1',
      AITBC_DATA_DIR: dataDir,
      AITBC_ADMIN_API_KEYS: admin,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
      AITBC_RATE_LIMIT: 'off',
    },
    { ...compiledServer, nodeArgs: [...compiledServer.nodeArgs, '--cpu-prof', `--cpu-prof-dir=${profiles}`] },
  );
  const key = (await call(server.url, admin, 'POST', '/api/v1/keys', { owner_id: 'layers' })).key as string;
  const joined = await call(server.url, key, 'POST', '/swarm/join', { role: 'monitor', capability: 'layers' });
  const req: Record<string, [string, string, unknown?]> = {
    '404': ['GET', '/no/such/path'],
    healthz: ['GET', '/healthz'],
    join: ['POST', '/swarm/join', { role: 'monitor', capability: 'layers' }],
    status: ['GET', `/swarm/status?swarm_id=${joined.swarm_id}`],
    whoami: ['GET', '/api/v1/whoami'],
  };
  const [method, path, body] = req[target]!;
  const requests = wrk(server.url + path, method, body, key);
  await server.stop('SIGINT');
  const file = readdirSync(profiles).find((f) => f.endsWith('.cpuprofile'))!;
  const p = JSON.parse(readFileSync(join(profiles, file), 'utf8')) as {
    nodes: { id: number; callFrame: { url: string; functionName: string } }[];
    samples: number[];
    timeDeltas: number[];
    startTime: number;
    endTime: number;
  };
  const node = new Map(p.nodes.map((n) => [n.id, n]));
  const layers = new Map<string, number>();
  const nodeFns = new Map<string, number>();
  // Only the load's window: samples after the setup requests, until wrk ended.
  let t = p.startTime;
  const windowEnd = p.endTime;
  let busy = 0;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    const f = node.get(id)!.callFrame;
    if (f.functionName === '(idle)' || f.functionName === '(program)' || t > windowEnd) return;
    const layer = layerOf(f.url, f.functionName);
    layers.set(layer, (layers.get(layer) ?? 0) + (p.timeDeltas[i] ?? 0));
    if (process.env.LAYER_DETAIL && layer.startsWith(process.env.LAYER_DETAIL)) {
      const k = `${f.functionName} ${f.url.split('/').slice(-1)[0]}`;
      nodeFns.set(k, (nodeFns.get(k) ?? 0) + (p.timeDeltas[i] ?? 0));
    }
    busy += p.timeDeltas[i] ?? 0;
  });
  for (const [k, us] of [...nodeFns].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`    ${(us / requests).toFixed(1).padStart(7)} µs  ${k}`);
  rows.push({ target, perRequestUs: busy / requests, rate: requests / SECONDS, layers });
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(profiles, { recursive: true, force: true });
}

for (const r of rows) {
  console.log(
    `\n${r.target}: ${Math.round(r.rate)} req/s, ${r.perRequestUs.toFixed(0)} µs of server CPU per request (start-up and set-up included)`,
  );
  for (const [layer, us] of [...r.layers].sort((a, b) => b[1] - a[1]).slice(0, 14)) {
    const per = us / (r.rate * SECONDS);
    console.log(`  ${per.toFixed(1).padStart(7)} µs  ${layer}`);
  }
}

/**
 * The load the scenarios put on the servers: autocannon and wrk for one request shape at 64 connections, and
 * `loops` for multi-step work (a keep-alive fetch per step, each iteration timed).
 */
import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Row, row } from './row.ts';

export const hasWrk = (() => {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // wrk prints its version and exits 1.
    return (error as { status?: number }).status === 1;
  }
})();

/**
 * wrk (2 threads, 64 connections, `seconds`) against one request: its rate and latency percentiles, from wrk's own
 * --latency report. A body is POSTed as JSON; headers go on every request.
 */
export function wrk(
  seconds: number,
  url: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const script = join(tmpdir(), `aitbc-wrk-${process.pid}.lua`);
  const all = { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
  writeFileSync(
    script,
    [
      `wrk.method = "${method}"`,
      ...Object.entries(all).map(([k, v]) => `wrk.headers["${k}"] = "${v}"`),
      body !== undefined ? `wrk.body = ${JSON.stringify(JSON.stringify(body))}` : '',
      'done = function(summary, latency, requests)',
      '  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,',
      '    latency:percentile(50), latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,',
      '    summary.errors.status, latency.max))',
      'end',
    ].join('\n'),
  );
  const out = execFileSync('wrk', ['-t2', '-c64', `-d${seconds}s`, '-s', script, url + path], { encoding: 'utf8' });
  rmSync(script, { force: true });
  const m = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out);
  if (!m) throw new Error(`wrk printed no result: ${out}`);
  const [requests, durationUs, p50, p99, errors, non2xx] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return { rate: requests / (durationUs / 1e6), p50: p50 / 1000, p99: p99 / 1000, errors, non2xx };
}

/** autocannon at `connections` for `seconds` against one request shape (bodies may vary per request). */
export async function cannon(
  scenario: string,
  servers: { url: string; pid: number }[],
  key: string,
  req: { method: 'GET' | 'POST'; path: string | (() => string); body?: () => unknown },
  { seconds, connections }: { seconds: number; connections: number },
): Promise<Row> {
  const latencies: number[] = [];
  const url = servers[0]!.url;
  // Without a callback it is both the running instance (its events) and a promise of the result; the types know only the latter.
  const instance = autocannon({
    url,
    connections,
    duration: seconds,
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    requests: [
      {
        method: req.method,
        ...(typeof req.path === 'string' ? { path: req.path } : {}),
        setupRequest: (r: autocannon.Request) => ({
          ...r,
          ...(typeof req.path === 'function' ? { path: req.path() } : {}),
          ...(req.body ? { body: JSON.stringify(req.body()) } : {}),
        }),
      },
    ],
  }) as unknown as autocannon.Instance & Promise<autocannon.Result>;
  instance.on('response', (_c: unknown, status: number, _b: number, ms: number) => {
    if (status < 400) latencies.push(ms);
  });
  const result = await instance;
  return row(scenario, 'req/s', latencies, seconds, result.errors + result.timeouts + result.non2xx, servers);
}

/** Runs `worker` in `concurrency` loops for `seconds`; each iteration's time is a latency sample. */
export async function loops(
  seconds: number,
  concurrency: number,
  worker: (i: number) => Promise<void>,
): Promise<{ latencies: number[]; errors: number; messages: string[] }> {
  const until = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  const messages: string[] = [];
  let errors = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      while (performance.now() < until) {
        const t = performance.now();
        try {
          await worker(i);
          latencies.push(performance.now() - t);
        } catch (error) {
          errors++;
          if (messages.length < 3) messages.push((error as Error).message);
        }
      }
    }),
  );
  return { latencies, errors, messages };
}

// An HTTP proxy in front of a test server, to give a worker a slow or silent
// server: it forwards every request, and can hold the requests that call
// given tRPC procedures for a while, or stop answering anything at all (a
// server that accepts connections and never replies, as a stopped process or
// a network that drops packets looks to the client).
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface TestProxy {
  url: string;
  /** Holds each request that calls one of `procedures` for `ms` before forwarding it. */
  delay(procedures: string[], ms: number): void;
  /** From now on, answers nothing: requests (new and in flight) are held open without a reply. */
  silence(): void;
  /** Requests forwarded so far, by tRPC procedure. */
  calls(procedure: string): number;
  close(): Promise<void>;
}

/** The tRPC procedures one request calls (a batch names several, comma-separated). */
function proceduresOf(url: string): string[] {
  const path = new URL(url, 'http://proxy').pathname;
  return path.startsWith('/trpc/') ? path.slice('/trpc/'.length).split(',') : [];
}

export async function startProxy(target: string): Promise<TestProxy> {
  const upstream = new URL(target);
  const delays = new Map<string, number>();
  const counts = new Map<string, number>();
  const sockets = new Set<Socket>();
  let silent = false;

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    if (silent) return;
    for (const p of proceduresOf(req.url ?? '')) counts.set(p, (counts.get(p) ?? 0) + 1);
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (silent) return answer.resume();
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => {
      if (!silent && !res.headersSent) res.writeHead(502).end();
    });
    out.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const wait = Math.max(0, ...proceduresOf(req.url ?? '').map((p) => delays.get(p) ?? 0));
      if (wait > 0) setTimeout(() => forward(req, res, Buffer.concat(chunks)), wait);
      else forward(req, res, Buffer.concat(chunks));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    delay(procedures, ms) {
      for (const p of procedures) delays.set(p, ms);
    },
    silence() {
      silent = true;
    },
    calls: (procedure) => counts.get(procedure) ?? 0,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

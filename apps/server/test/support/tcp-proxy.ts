// A TCP proxy between a server and the shared PostgreSQL, so a test can make
// the database unreachable or silent for that server alone, without touching
// the cluster others use:
//   - down: every connection is cut and new ones are reset (a restart, a
//     failover, a network cut);
//   - silent: connections stay open and nothing passes either way, new ones
//     are accepted and get no answer (a paused or partitioned server);
//   - open: traffic flows (what was held while silent goes on).
import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string;
  down(): void;
  silent(): void;
  open(): void;
  close(): Promise<void>;
}

/** One proxied connection, and what it holds back while silent. */
interface Pair {
  client: Socket;
  upstream: Socket | null;
  toServer: Buffer[];
  toClient: Buffer[];
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: 'open' | 'down' | 'silent' = 'open';
  const pairs = new Set<Pair>();

  const connectUpstream = (pair: Pair) => {
    const upstream = createConnection(target);
    pair.upstream = upstream;
    upstream.on('error', () => pair.client.destroy());
    upstream.on('close', () => pair.client.destroy());
    upstream.on('data', (d: Buffer) => (mode === 'silent' ? pair.toClient.push(d) : pair.client.write(d)));
    for (const d of pair.toServer.splice(0)) upstream.write(d);
  };

  const server = createServer((client) => {
    if (mode === 'down') return void client.destroy();
    const pair: Pair = { client, upstream: null, toServer: [], toClient: [] };
    pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      pairs.delete(pair);
      pair.upstream?.destroy();
    });
    client.on('data', (d: Buffer) => (mode === 'silent' || !pair.upstream ? pair.toServer.push(d) : pair.upstream.write(d)));
    if (mode === 'open') connectUpstream(pair);
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  const cutAll = () => {
    for (const pair of pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    pairs.clear();
  };

  return {
    through(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    down() {
      mode = 'down';
      cutAll();
    },
    silent() {
      mode = 'silent';
    },
    open() {
      mode = 'open';
      for (const pair of pairs) {
        if (!pair.upstream) connectUpstream(pair);
        else for (const d of pair.toServer.splice(0)) pair.upstream.write(d);
        for (const d of pair.toClient.splice(0)) pair.client.write(d);
      }
    },
    async close() {
      cutAll();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

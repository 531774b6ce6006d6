// An HTTP load balancer in front of several server instances, as a deployment
// has one: each request goes to the next instance in turn; an instance that
// refuses connections (killed) is skipped from then on and the request goes
// to another. A request cut after it reached an instance is cut for the
// client too (its connection is reset, as a real balancer does), never
// answered with a made-up status.
import { Agent, createServer, request } from 'node:http';

export interface Balancer {
  url: string;
  close(): Promise<void>;
}

export async function startBalancer(backends: string[]): Promise<Balancer> {
  const targets = backends.map((b) => ({ url: new URL(b), dead: false }));
  const agent = new Agent({ keepAlive: true });
  let next = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => forward(Buffer.concat(chunks), 0));
    function forward(body: Buffer, tried: number): void {
      const alive = targets.filter((t) => !t.dead);
      if (alive.length === 0 || tried > targets.length) return void res.destroy();
      const target = alive[next++ % alive.length]!;
      const upstream = request(
        { host: target.url.hostname, port: target.url.port, method: req.method, path: req.url, headers: req.headers, agent },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('error', () => res.destroy());
        },
      );
      // The client went away (a long poll it stopped): so does the request upstream.
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        if (res.headersSent) return void res.destroy();
        if (error.code === 'ECONNREFUSED') target.dead = true;
        // Not answered yet: another instance takes it (refused, or cut on a kept-alive connection the instance had closed).
        if (error.code === 'ECONNREFUSED' || error.code === 'ECONNRESET') return forward(body, tried + 1);
        res.destroy();
      });
      upstream.end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      agent.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

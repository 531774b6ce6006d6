// A submit whose answer is lost on the way back (the server committed, the connection was cut before the client
// read the answer) is sent again by the client under the same idempotency key, and the server answers it with the
// first answer: nothing runs twice. A proxy in the test cuts the connection. Runs on SQLite and PostgreSQL.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../../../apps/server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../../apps/server/test/support/server.ts';
import { createClient, describeError } from '../src/index.ts';

/** Forwards everything to `target`; the first answer to each path in `cut` is read from the server, then dropped. */
function cuttingProxy(target: string, cut: Set<string>): Promise<{ url: string; cuts: string[]; server: Server }> {
  const cuts: string[] = [];
  const server = createServer((req, res) => {
    const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        const procedure = new URL(req.url!, target).pathname.replace('/trpc/', '');
        if (cut.delete(procedure)) {
          cuts.push(procedure);
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.statusCode!, answer.headers);
        res.end(Buffer.concat(chunks));
      });
    });
    req.pipe(upstream);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, cuts, server })),
  );
}

describe.each(databaseKinds)('submits through a cut connection on %s', (kind) => {
  let srv: TestServer;
  let key: string;

  beforeAll(async () => {
    srv = await startTestServer(kind);
    key = await srv.keyFor('cut');
  });
  afterAll(() => srv?.close());

  it('runs each submit once: execute, coordinate and network create answer the retry with the first answer', async () => {
    const direct = createClient({ url: srv.url, apiKey: key });
    const agent = await direct.agent.register.mutate({ name: 'cut-1' });
    const member = await direct.swarm.join.mutate({ role: 'monitor', capability: 'cut' });
    const proxy = await cuttingProxy(srv.url, new Set(['network.create', 'execution.execute', 'swarm.coordinate']));
    try {
      const client = createClient({ url: proxy.url, apiKey: key });
      const network = await client.network.create.mutate({ name: 'cut', agents: [agent.id] });
      const execution = await client.execution.execute.mutate({ network_id: network.id, task: { items: [1, 2, 3] } });
      const task = await client.swarm.coordinate.mutate({ swarm_id: member.swarm_id, strategy: 'broadcast', collaborators: 1 });
      expect(proxy.cuts).toEqual(['network.create', 'execution.execute', 'swarm.coordinate']);
      const db = srv.server.db;
      expect(await db.run((d) => d.agentNetwork.findMany({ where: { ownerId: 'cut' }, select: { id: true } }))).toEqual([
        { id: network.id },
      ]);
      expect(await db.run((d) => d.agentNetworkExecution.findMany({ where: { ownerId: 'cut' }, select: { id: true } }))).toEqual([
        { id: execution.id },
      ]);
      expect(await db.run((d) => d.swarmCoordination.findMany({ where: { ownerId: 'cut' }, select: { taskId: true } }))).toEqual([
        { taskId: task.task_id },
      ]);
    } finally {
      proxy.server.close();
    }
  });

  it('issues one key through a cut connection, and says which, since its secret is shown only once', async () => {
    const proxy = await cuttingProxy(srv.url, new Set(['key.create']));
    try {
      const client = createClient({ url: proxy.url, apiKey: key });
      const before = await srv.server.db.run((d) => d.apiKey.count({ where: { ownerId: 'cut' } }));
      const error = await client.key.create.mutate({ scope: 'read' }).catch((e: unknown) => e);
      expect(describeError(error)).toMatchObject({ code: 'CONFLICT', httpStatus: 409 });
      expect(describeError(error).message).toMatch(/already issued API key \S+ at \S+; its secret is shown only once/);
      expect(await srv.server.db.run((d) => d.apiKey.count({ where: { ownerId: 'cut' } }))).toBe(before + 1);
    } finally {
      proxy.server.close();
    }
  });
});

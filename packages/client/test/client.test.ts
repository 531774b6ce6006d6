// The typed client's own behaviour, apart from any server's: a call to a
// server that takes the connection and never answers ends at the timeout.
import { createServer, type Socket } from 'node:net';
import { expect, it } from 'vitest';
import { createClient, describeError } from '../src/index.ts';

it('a call to a server that never answers fails after timeoutMs, batched or alone', async () => {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const client = createClient({ url: `http://127.0.0.1:${(silent.address() as { port: number }).port}`, timeoutMs: 500 });
    for (const call of [
      () => client.key.whoami.query({}),
      () => client.work.heartbeats.mutate({ leases: [{ subtask_id: 's', lease_id: 'l' }] }),
    ]) {
      const began = performance.now();
      const outcome = await Promise.race([
        call().then(
          () => 'answered',
          (error: unknown) => describeError(error).code,
        ),
        new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5000)),
      ]);
      expect(outcome).toBe('TIMEOUT');
      expect(performance.now() - began).toBeLessThan(4000);
    }
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

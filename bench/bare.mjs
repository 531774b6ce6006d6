// The baselines the overhead scenario measures the server against, started
// by the bench in their own process: `node bench/bare.mjs node|fastify`.
// Each answers any POST with the JSON body it was sent, and prints
// `listening <port>` once it listens on 127.0.0.1.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

const kind = process.argv[2];
if (kind === 'node') {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString() || '{}';
      const out = JSON.stringify({ ok: true, got: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
} else if (kind === 'fastify') {
  // Fastify is the server's dependency; resolve it from there.
  const Fastify = createRequire(new URL('../apps/server/package.json', import.meta.url))('fastify');
  const app = Fastify({ logger: false });
  app.post('/*', async (req) => ({ ok: true, got: req.body ?? {} }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  console.log(`listening ${app.server.address().port}`);
} else {
  console.error('usage: node bench/bare.mjs node|fastify');
  process.exit(2);
}

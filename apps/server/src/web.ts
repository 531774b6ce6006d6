import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { checkoutRoot } from './checkout.ts';
import { gzipSync } from 'node:zlib';
import type { IncomingMessage } from 'node:http';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

export interface WebOptions {
  /** The built dashboard (apps/web/dist by default; AITBC_WEB_DIR). */
  dir?: string | undefined;
}

/** apps/web/dist, beside this package. */
export const DEFAULT_WEB_DIR = join(checkoutRoot, 'apps', 'web', 'dist');

/** The dashboard's client-side routes: each answers with index.html. */
export const DASHBOARD_ROUTES = ['/', '/swarms', '/tasks', '/networks', '/dead-letters', '/owners', '/audit'];

/** Paths the API owns: no dashboard file is ever served under them. */
const RESERVED = ['/trpc', '/api', '/swarm', '/v1', '/docs', '/openapi.json', '/healthz', '/metrics'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.svg', '.txt', '.map']);

/** The page may load only its own scripts and styles, and talk only to this server. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

interface Asset {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  cache: string;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : entry.isFile() ? [path] : [];
  });
}

function load(file: string, urlPath: string): Asset {
  const body = readFileSync(file);
  const ext = extname(file).toLowerCase();
  const gzip = COMPRESSIBLE.has(ext) && body.length > 1024 ? gzipSync(body, { level: 9 }) : null;
  return {
    body,
    gzip: gzip && gzip.length < body.length ? gzip : null,
    type: TYPES[ext] ?? 'application/octet-stream',
    // Vite names what it builds under assets/ by content hash: those never change.
    cache: urlPath.startsWith('/assets/')
      ? 'public, max-age=31536000, immutable'
      : urlPath.endsWith('.html')
        ? 'no-cache'
        : 'public, max-age=3600',
  };
}

function send(req: FastifyRequest, reply: FastifyReply, asset: Asset) {
  reply.header('content-type', asset.type).header('cache-control', asset.cache).header('vary', 'accept-encoding');
  if (asset.type.startsWith('text/html')) {
    reply.header('content-security-policy', CSP).header('x-frame-options', 'DENY').header('referrer-policy', 'no-referrer');
  }
  const accepts = String(req.headers['accept-encoding'] ?? '');
  if (asset.gzip && /\bgzip\b/.test(accepts)) return reply.header('content-encoding', 'gzip').send(asset.gzip);
  return reply.send(asset.body);
}

/**
 * The dashboard's live streams (SSE subscriptions under /trpc/live.*) never
 * end by themselves, and an open connection keeps `close()` waiting: when the
 * server closes they are cut, and the browser reconnects to another instance.
 */
function endLiveStreamsOnClose(app: Parameters<FastifyPluginAsync>[0]): void {
  const streams = new Set<IncomingMessage>();
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/trpc/live.')) return;
    streams.add(req.raw);
    reply.raw.once('close', () => streams.delete(req.raw));
  });
  app.addHook('preClose', async () => {
    for (const stream of streams) stream.socket.destroy();
    streams.clear();
  });
}

/**
 * The operators' dashboard (apps/web) at `/`: its built files, read once at
 * start (the bundle is small), gzip-compressed ahead of time, hashed assets
 * cached for good and index.html revalidated. The API's paths are never
 * shadowed. Without a build, `/` says how to make one.
 */
const web: FastifyPluginAsync<WebOptions> = async (app, options) => {
  endLiveStreamsOnClose(app);
  const dir = options.dir ?? DEFAULT_WEB_DIR;
  const index = join(dir, 'index.html');
  if (!existsSync(index) || !statSync(index).isFile()) {
    app.get('/', async () => ({
      name: 'aitbc-swarm',
      message: `The dashboard is not built (no ${index}). Build it with \`pnpm build\` (or \`pnpm --filter @aitbc/web build\`) and restart the server.`,
      docs: '/docs',
      openapi: '/openapi.json',
      health: '/healthz',
    }));
    return;
  }

  const page = load(index, '/index.html');
  for (const route of DASHBOARD_ROUTES) app.get(route, (req, reply) => send(req, reply, page));

  for (const file of filesUnder(dir)) {
    const urlPath = '/' + relative(dir, file).split(sep).join('/');
    if (urlPath === '/index.html' || RESERVED.some((r) => urlPath === r || urlPath.startsWith(`${r}/`))) continue;
    const asset = load(file, urlPath);
    app.get(urlPath, (req, reply) => send(req, reply, asset));
  }
};

export const webPlugin = fp(web, { name: 'aitbc-web', fastify: '5.x' });

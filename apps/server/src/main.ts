import { pathToFileURL } from 'node:url';
import { loadConfig, type ServerConfig } from './config.ts';
import { startServer, type RunningServer } from './server.ts';

/** `pnpm start` and `aitbc server start`: the server in the foreground until SIGINT/SIGTERM. */
export async function serve(config: ServerConfig = loadConfig()): Promise<void> {
  let server: RunningServer;
  try {
    server = await startServer(config);
  } catch (error) {
    process.stderr.write(`aitbc-server: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  const log = server.app.log;
  // Handlers first, banner last: whoever waits for "API:" may signal us at once.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  if (server.migrations.length) log.info({ migrations: server.migrations }, 'applied database migrations');
  log.info({ url: server.url, database: server.db.provider }, 'aitbc-server listening');
  process.stdout.write(adminKeyNotice(server) + `\n  API:  ${server.url}   docs: ${server.url}/docs   health: ${server.url}/healthz\n\n`);
}

function adminKeyNotice(server: RunningServer): string {
  const a = server.adminKey;
  switch (a.kind) {
    case 'created': {
      const line = '='.repeat(78);
      return [
        '',
        line,
        '  FIRST START: an admin API key was created. It is shown only this once.',
        '',
        `    ${a.key}`,
        '',
        `  It is also saved (mode 0600) in ${a.file}`,
        '  Use it:  export AITBC_API_KEY=$(cat ' + a.file + ')',
        '           pnpm aitbc keys create --owner alice     # a key for a user',
        line,
      ].join('\n');
    }
    case 'existing':
      return a.file
        ? `\n  Admin key: in ${a.file}`
        : '\n  Admin key: already issued (its file is gone; revoke it and issue another if it is lost)';
    case 'configured':
      return '\n  Admin keys: from AITBC_ADMIN_API_KEYS';
    case 'none':
      return '\n  WARNING: no admin key. Set AITBC_ADMIN_API_KEYS to create API keys for users.';
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await serve();

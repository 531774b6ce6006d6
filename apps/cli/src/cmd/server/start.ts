import type { Command } from 'commander';
import { CliError } from '../../failure.ts';
import { integerFrom } from '../../flags.ts';
import type { CliDeps, ServerConfig } from '../../session.ts';

export interface ServerStartOptions {
  port?: number;
  host?: string;
  dataDir?: string;
  databaseUrl?: string;
}

/**
 * The server's environment with the flags on top: flags win over PORT, HOST,
 * AITBC_DATA_DIR and DATABASE_URL. loadConfig takes relative paths (data dir,
 * file: database) from where the user ran the command.
 */
export function serverEnvironment(options: ServerStartOptions, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const databaseUrl = options.databaseUrl?.trim();
  return {
    ...env,
    ...(options.port !== undefined ? { PORT: String(options.port) } : {}),
    ...(options.host !== undefined ? { HOST: options.host } : {}),
    ...(options.dataDir !== undefined ? { AITBC_DATA_DIR: options.dataDir } : {}),
    ...(databaseUrl !== undefined ? { DATABASE_URL: databaseUrl } : {}),
  };
}

/**
 * What `server start` says where the server is not installed: the published
 * CLI (npm install -g @aitbc/cli) is the command line alone, without the
 * server, its database drivers and native modules.
 */
export const SERVER_NOT_INSTALLED = [
  'the coordination server is not part of this installation: @aitbc/cli is the command line alone, and the server is a separate package.',
  'To run a server, clone the aitbc-swarm repository and run `npx -y pnpm@10.34.8 start` in it (Node 20 and npm are enough);',
  'there PORT, HOST, AITBC_DATA_DIR and DATABASE_URL stand for --port, --host, --data-dir and --database-url.',
  'Then point aitbc at it with --url or AITBC_URL (default http://127.0.0.1:8000).',
].join('\n  ');

/** The server module, or a CliError saying how to run a server when it is not installed. */
async function loadServer(deps: Pick<CliDeps, 'loadServer'>): ReturnType<CliDeps['loadServer']> {
  try {
    return await deps.loadServer();
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    // The package itself missing (not one of its own imports), or found but as TypeScript sources plain node cannot load.
    const missing = code === 'ERR_MODULE_NOT_FOUND' && /['"]@aitbc\/server['"]/.test(message);
    const sources = code === 'ERR_UNKNOWN_FILE_EXTENSION' && /apps[\\/]server[\\/]/.test(message);
    if (missing || sources) throw new CliError(SERVER_NOT_INSTALLED, 1);
    throw error;
  }
}

/** Runs the server in the foreground (until SIGINT/SIGTERM); resolves with the config it started with. */
export async function runServerStart(
  options: ServerStartOptions,
  deps: Pick<CliDeps, 'env' | 'cwd' | 'loadServer'>,
): Promise<ServerConfig> {
  const { serve, loadConfig } = await loadServer(deps);
  const config = loadConfig(serverEnvironment(options, deps.env), deps.cwd);
  await serve(config);
  return config;
}

export function addServerStart(server: Command, deps: CliDeps): void {
  server
    .command('start')
    .description('run the coordination server in the foreground (Ctrl-C stops it)')
    .option('--port <n>', 'port to listen on (env PORT, default 8000)', integerFrom(0, 65535))
    .option('--host <host>', 'address to listen on (env HOST, default 127.0.0.1)')
    .option('--data-dir <dir>', 'where the SQLite file and admin.key live (env AITBC_DATA_DIR, default ./data)')
    .option('--database-url <url>', 'postgresql://… or file:PATH (env DATABASE_URL; default SQLite in the data dir)')
    .action(async (options: ServerStartOptions) => {
      await runServerStart(options, deps);
    });
}

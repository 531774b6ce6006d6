import type { Command } from 'commander';
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

/** Runs the server in the foreground (until SIGINT/SIGTERM); resolves with the config it started with. */
export async function runServerStart(
  options: ServerStartOptions,
  deps: Pick<CliDeps, 'env' | 'cwd' | 'loadServer'>,
): Promise<ServerConfig> {
  const { serve, loadConfig } = await deps.loadServer();
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

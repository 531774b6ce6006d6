// What a command gets to work with: the resolved settings, a client for the
// server they point at, and a way to print its result in the chosen format.
import type { AitbcClient, ClientOptions } from '@aitbc/client';
import type { ServerConfig, loadConfig, serve } from '@aitbc/server';
import type { Command } from 'commander';
import { explainFailure } from './failure.ts';
import { formatOutput } from './output.ts';
import { resolveSettings, type GlobalFlags, type Settings } from './settings.ts';

/** Everything the program takes from the outside world; tests pass their own. */
export interface CliDeps {
  env: NodeJS.ProcessEnv;
  /** Where the user ran the command (INIT_CWD under `pnpm aitbc`): relative paths resolve against it. */
  cwd: string;
  stdout(text: string): void;
  stderr(text: string): void;
  connect(options: ClientOptions): AitbcClient;
  /** Loaded only by `server start`, so other commands start fast. */
  loadServer(): Promise<{ serve: typeof serve; loadConfig: typeof loadConfig }>;
}

export type { ServerConfig };

export interface Session {
  settings: Settings;
  client: AitbcClient;
  /** Prints `data` as JSON/YAML, or through `table` in table mode. */
  show<T>(data: T, table: (data: T) => string): void;
}

export function settingsOf(command: Command, deps: CliDeps): Settings {
  return resolveSettings(command.optsWithGlobals<GlobalFlags>(), deps.env);
}

export function openSession(command: Command, deps: CliDeps): Session {
  const settings = settingsOf(command, deps);
  return {
    settings,
    client: deps.connect({ url: settings.url.value, apiKey: settings.apiKey.value }),
    show: (data, table) => deps.stdout(formatOutput(settings.output.value, data, table)),
  };
}

/**
 * A commander action for a command that calls the server: it opens a session
 * and words any failure for the user, naming the URL it could not reach.
 */
export function withSession(deps: CliDeps, body: (session: Session, command: Command) => Promise<void>) {
  return async (...args: unknown[]): Promise<void> => {
    const command = args[args.length - 1] as Command;
    const session = openSession(command, deps);
    try {
      await body(session, command);
    } catch (error) {
      throw explainFailure(error, session.settings.url.value);
    }
  };
}

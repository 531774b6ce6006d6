// Where the CLI connects, with which key, and how it prints: each setting
// comes from the first of flag > environment > ~/.aitbc/config.yaml > default,
// the order the legacy Python CLI uses.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CliError, UsageError } from './failure.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8000';
export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export type Source = 'flag' | 'env' | 'config file' | 'default';

export interface Setting<T> {
  value: T;
  source: Source;
}

export interface Settings {
  url: Setting<string>;
  /** undefined: no key anywhere, and none is sent. */
  apiKey: Setting<string | undefined>;
  output: Setting<OutputFormat>;
  configFile: { path: string; exists: boolean };
}

/** The global options as commander parsed them (absent when not given). */
export interface GlobalFlags {
  url?: string;
  apiKey?: string;
  output?: OutputFormat;
}

/** The legacy CLI's file: `coordinator_url` and `api_key`; other keys are left alone. */
interface ConfigFile {
  coordinator_url?: string;
  api_key?: string;
}

export function configFilePath(env: NodeJS.ProcessEnv): string {
  return join(env.HOME || homedir(), '.aitbc', 'config.yaml');
}

function readConfigFile(path: string): ConfigFile | null {
  if (!existsSync(path)) return null;
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(path, 'utf8'));
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new CliError(`cannot read ${path}: ${reason}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CliError(`cannot read ${path}: expected "coordinator_url: …" and "api_key: …" lines`);
  }
  const file = parsed as Record<string, unknown>;
  for (const key of ['coordinator_url', 'api_key'] as const) {
    if (file[key] !== undefined && file[key] !== null && typeof file[key] !== 'string') {
      throw new CliError(`cannot read ${path}: ${key} must be a string`);
    }
  }
  return file as ConfigFile;
}

/** Empty and blank values count as unset (an empty AITBC_URL falls through to the file); a key is checked first (emptyKey). */
function given(value: string | null | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

function firstOf<T>(candidates: [Source, T | undefined][], fallback: T): Setting<T> {
  for (const [source, value] of candidates) if (value !== undefined) return { value, source };
  return { value: fallback, source: 'default' };
}

export function resolveSettings(flags: GlobalFlags, env: NodeJS.ProcessEnv): Settings {
  const path = configFilePath(env);
  const file = readConfigFile(path);
  const url = firstOf<string>(
    [
      ['flag', given(flags.url)],
      ['env', given(env.AITBC_URL)],
      ['config file', given(file?.coordinator_url)],
    ],
    DEFAULT_URL,
  );
  checkUrl(url);
  emptyKey(flags, env, path);
  return {
    url: { ...url, value: url.value.replace(/\/+$/, '') },
    apiKey: firstOf<string | undefined>(
      [
        ['flag', given(flags.apiKey)],
        ['env', given(env.AITBC_API_KEY)],
        ['config file', given(file?.api_key)],
      ],
      undefined,
    ),
    output: firstOf<OutputFormat>([['flag', flags.output]], 'table'),
    configFile: { path, exists: file !== null },
  };
}

/**
 * An API key given but empty is refused, not passed over: it is what
 * `export AITBC_API_KEY=$(aitbc keys create … -q)` leaves when the command
 * failed (the server not where AITBC_URL says), and it has just replaced the
 * key that worked. Sending none, or the config file's, would hide that.
 */
function emptyKey(flags: GlobalFlags, env: NodeJS.ProcessEnv, configPath: string): void {
  if (flags.apiKey !== undefined) {
    if (!given(flags.apiKey)) throw new CliError('--api-key is empty: give a key, or leave the option out');
    return; // the flag wins over the environment
  }
  if (env.AITBC_API_KEY === undefined || given(env.AITBC_API_KEY)) return;
  throw new CliError(
    'AITBC_API_KEY is set but empty, so there is no key to send. If it was set by ' +
      '`export AITBC_API_KEY=$(aitbc keys create … -q)`, that command failed (its error is above) and the key the ' +
      `variable held before is gone: set it to a key again, or \`unset AITBC_API_KEY\` to use api_key from ${configPath}.`,
  );
}

const WHERE: Record<Source, string> = {
  flag: '--url',
  env: 'AITBC_URL',
  'config file': 'coordinator_url in the config file',
  default: 'the default',
};

function checkUrl(url: Setting<string>): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url.value);
  } catch {
    /* reported below */
  }
  if (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') {
    throw new UsageError(`invalid server URL "${url.value}" (from ${WHERE[url.source]}): expected http://HOST:PORT`);
  }
}

/** Enough of a key to recognise it (the `prefix` that `keys list` shows), never enough to use it. */
export function maskKey(key: string): string {
  return key.slice(0, Math.min(12, Math.floor(key.length / 3))) + '…';
}

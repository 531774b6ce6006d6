import type { Command } from 'commander';
import { formatOutput, renderFields } from '../../output.ts';
import { maskKey, type OutputFormat, type Settings, type Source } from '../../settings.ts';
import { type CliDeps, settingsOf } from '../../session.ts';

export interface ConfigReport {
  url: { value: string; source: Source };
  /** Masked; null when no key is set. */
  api_key: { value: string | null; source: Source };
  output: { value: OutputFormat; source: Source };
  config_file: { path: string; exists: boolean };
}

/** The settings in use and where each came from; reads no server. */
export function runConfigShow(settings: Settings): ConfigReport {
  return {
    url: settings.url,
    api_key: { value: settings.apiKey.value === undefined ? null : maskKey(settings.apiKey.value), source: settings.apiKey.source },
    output: settings.output,
    config_file: settings.configFile,
  };
}

const ORIGIN: Record<keyof Omit<ConfigReport, 'config_file'>, Record<Source, string>> = {
  url: { flag: '--url', env: 'AITBC_URL', 'config file': 'config file', default: 'default' },
  api_key: { flag: '--api-key', env: 'AITBC_API_KEY', 'config file': 'config file', default: 'default' },
  output: { flag: '-o', env: 'env', 'config file': 'config file', default: 'default' }, // only -o sets it
};

export function renderConfigReport(report: ConfigReport): string {
  return renderFields({
    url: `${report.url.value} (${ORIGIN.url[report.url.source]})`,
    api_key: report.api_key.value
      ? `${report.api_key.value} (${ORIGIN.api_key[report.api_key.source]})`
      : 'not set: use --api-key, AITBC_API_KEY or api_key in the config file',
    output: `${report.output.value} (${ORIGIN.output[report.output.source]})`,
    config_file: `${report.config_file.path}${report.config_file.exists ? '' : ' (not found)'}`,
  });
}

export function addConfigShow(config: Command, deps: CliDeps): void {
  config
    .command('show')
    .description('show the server URL, API key (masked) and output format in use, and where each came from')
    .action((_options: unknown, command: Command) => {
      const settings = settingsOf(command, deps);
      deps.stdout(formatOutput(settings.output.value, runConfigShow(settings), renderConfigReport));
    });
}

import { afterEach, describe, expect, it } from 'vitest';
import { runConfigShow } from '../src/cmd/config/show.ts';
import { CliError, UsageError } from '../src/failure.ts';
import { DEFAULT_URL, maskKey, resolveSettings } from '../src/settings.ts';
import { tempHome } from './support/aitbc.ts';

const homes: { remove(): void }[] = [];
function home(configYaml?: string): string {
  const h = tempHome(configYaml);
  homes.push(h);
  return h.home;
}
afterEach(() => {
  for (const h of homes.splice(0)) h.remove();
});

const FILE = 'coordinator_url: http://file.example:8000\napi_key: aitbc_fromfile_0123456789abcdefghijklmnop\nother_setting: kept\n';

describe('settings: flag > env > config file > default', () => {
  it('uses the default URL, no key and table output when nothing is set', () => {
    const s = resolveSettings({}, { HOME: home() });
    expect(s.url).toEqual({ value: DEFAULT_URL, source: 'default' });
    expect(s.apiKey).toEqual({ value: undefined, source: 'default' });
    expect(s.output).toEqual({ value: 'table', source: 'default' });
    expect(s.configFile.exists).toBe(false);
  });

  it('reads the config file from $HOME/.aitbc/config.yaml', () => {
    const h = home(FILE);
    const s = resolveSettings({}, { HOME: h });
    expect(s.url).toEqual({ value: 'http://file.example:8000', source: 'config file' });
    expect(s.apiKey).toEqual({ value: 'aitbc_fromfile_0123456789abcdefghijklmnop', source: 'config file' });
    expect(s.configFile).toEqual({ path: `${h}/.aitbc/config.yaml`, exists: true });
  });

  it('lets the environment override the file', () => {
    const s = resolveSettings({}, { HOME: home(FILE), AITBC_URL: 'http://env.example:9000', AITBC_API_KEY: 'aitbc_fromenv' });
    expect(s.url).toEqual({ value: 'http://env.example:9000', source: 'env' });
    expect(s.apiKey).toEqual({ value: 'aitbc_fromenv', source: 'env' });
  });

  it('lets flags override the environment and the file', () => {
    const s = resolveSettings(
      { url: 'https://flag.example/', apiKey: 'aitbc_fromflag', output: 'yaml' },
      { HOME: home(FILE), AITBC_URL: 'http://env.example:9000', AITBC_API_KEY: 'aitbc_fromenv' },
    );
    expect(s.url).toEqual({ value: 'https://flag.example', source: 'flag' });
    expect(s.apiKey).toEqual({ value: 'aitbc_fromflag', source: 'flag' });
    expect(s.output).toEqual({ value: 'yaml', source: 'flag' });
  });

  it('mixes sources per setting: a key from the env, the URL from the file', () => {
    const s = resolveSettings({}, { HOME: home('coordinator_url: http://file.example:8000\n'), AITBC_API_KEY: 'aitbc_fromenv' });
    expect(s.url.source).toBe('config file');
    expect(s.apiKey.source).toBe('env');
  });

  it('treats an empty AITBC_URL as unset, so it falls through to the file', () => {
    const s = resolveSettings({}, { HOME: home(FILE), AITBC_URL: '  ' });
    expect(s.url.source).toBe('config file');
  });

  it('refuses an empty AITBC_API_KEY, saying what probably emptied it, rather than sending no key or another one', () => {
    const h = home(FILE);
    for (const empty of ['', '  ']) {
      expect(() => resolveSettings({}, { HOME: h, AITBC_API_KEY: empty })).toThrow(CliError);
      expect(() => resolveSettings({}, { HOME: h, AITBC_API_KEY: empty })).toThrow(
        /^AITBC_API_KEY is set but empty.*export AITBC_API_KEY=\$\(aitbc keys create … -q\)`, that command failed/,
      );
    }
    expect(() => resolveSettings({}, { HOME: h, AITBC_API_KEY: '' })).toThrow(
      `unset AITBC_API_KEY\` to use api_key from ${h}/.aitbc/config.yaml`,
    );
    expect(() => resolveSettings({ apiKey: '' }, { HOME: h })).toThrow(/^--api-key is empty/);
    // A key given by flag wins over an empty variable, as over any.
    expect(resolveSettings({ apiKey: 'aitbc_fromflag' }, { HOME: h, AITBC_API_KEY: '' }).apiKey).toEqual({
      value: 'aitbc_fromflag',
      source: 'flag',
    });
  });

  it('accepts an empty config file', () => {
    expect(resolveSettings({}, { HOME: home('') }).url.source).toBe('default');
  });

  it('refuses a config file that is not YAML key: value pairs, naming the file', () => {
    const h = home('coordinator_url: [unclosed\n');
    expect(() => resolveSettings({}, { HOME: h })).toThrow(CliError);
    expect(() => resolveSettings({}, { HOME: h })).toThrow(`${h}/.aitbc/config.yaml`);
    expect(() => resolveSettings({}, { HOME: home('api_key: 12345\n') })).toThrow(/api_key must be a string/);
  });

  it('refuses a URL that is not http(s), saying where it came from', () => {
    const h = home();
    expect(() => resolveSettings({}, { HOME: h, AITBC_URL: '127.0.0.1:8000' })).toThrow(UsageError);
    expect(() => resolveSettings({}, { HOME: h, AITBC_URL: 'ftp://x' })).toThrow(/AITBC_URL/);
    expect(() => resolveSettings({ url: 'nope' }, { HOME: h })).toThrow(/--url/);
  });
});

describe('maskKey', () => {
  it('shows the prefix `keys list` shows for a server-issued key, and nothing more', () => {
    const key = 'aitbc_' + 'Ab3dEfGh1jKlMn0pQrStUvWxYz0123456789abcdEFG';
    expect(maskKey(key)).toBe('aitbc_Ab3dEf…');
  });

  it('shows at most a third of a short key', () => {
    const masked = maskKey('short-secret');
    expect(masked).toBe('shor…');
    expect(maskKey('abc')).toBe('a…');
  });
});

describe('config show', () => {
  it('reports each setting with its source and masks the key', () => {
    const h = home(FILE);
    const report = runConfigShow(resolveSettings({ output: 'json' }, { HOME: h, AITBC_URL: 'http://env.example:9000' }));
    expect(report).toEqual({
      url: { value: 'http://env.example:9000', source: 'env' },
      api_key: { value: 'aitbc_fromfi…', source: 'config file' },
      output: { value: 'json', source: 'flag' },
      config_file: { path: `${h}/.aitbc/config.yaml`, exists: true },
    });
    expect(JSON.stringify(report)).not.toContain('0123456789abcdef');
  });

  it('reports a missing key as null', () => {
    expect(runConfigShow(resolveSettings({}, { HOME: home() })).api_key).toEqual({ value: null, source: 'default' });
  });
});

// `aitbc completion bash|zsh|fish`: the generated scripts run in the real shells.
// bash completes through its completion function (COMP_WORDS/COMP_CWORD); zsh
// through its completion system on a pseudo-terminal (zpty); fish through
// `complete -C`. A shell that is not installed skips its checks with one line.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the ${...} here are shell code, not templates
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COORDINATION_STRATEGIES, KEY_SCOPES, OBJECTIVES, SWARM_ROLES, SWARM_STRATEGIES } from '@aitbc/core';
import { Argument, type Command, Option } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { runCompletion, type Shell } from '../src/cmd/completion/completion.ts';
import { completionTree } from '../src/cmd/completion/model.ts';
import { buildProgram } from '../src/program.ts';
import type { CliDeps } from '../src/session.ts';
import { OUTPUT_FORMATS } from '../src/settings.ts';
import { aitbc, tempHome } from './support/aitbc.ts';

const unused = (): never => {
  throw new Error('completion must not reach a server');
};
const deps: CliDeps = { env: {}, cwd: tmpdir(), stdout: () => {}, stderr: () => {}, connect: unused, loadServer: unused };

const dir = mkdtempSync(join(tmpdir(), 'aitbc-completion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The script for `shell`, written to a file of its own. */
function scriptFile(shell: Shell, program: Command = buildProgram(deps), name = `aitbc.${shell}`): string {
  const file = join(dir, name);
  writeFileSync(file, runCompletion(shell, program));
  return file;
}

/** A shell's home with nothing in it, so no user configuration takes part. */
function shellEnv(): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(dir, 'home-'));
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local/share'),
    TERM: 'dumb',
  };
}

function run(command: string, args: string[], env = shellEnv()): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { env, encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function installed(shell: string): boolean {
  const found = spawnSync(shell, ['-c', 'exit 0'], { stdio: 'ignore' });
  if (found.error || found.status !== 0) {
    process.stderr.write(`[tests] ${shell} completion checks SKIPPED: ${shell} is not installed (apt-get install -y ${shell})\n`);
    return false;
  }
  return true;
}

const hasZsh = installed('zsh');
const hasFish = installed('fish');

/** A program with a command added after the fact: completion follows without any change to its code. */
function programWithExtra(): Command {
  const program = buildProgram(deps);
  program
    .command('extra')
    .description('added by a test')
    .addOption(new Option('--flavour <flavour>', 'a new enumerated flag').choices(['salty', 'sweet']))
    .addOption(new Option('--secret <s>', 'hidden').choices(['x', 'y']).hideHelp())
    .addArgument(new Argument('[mode]', 'a new enumerated argument').choices(['fast', 'slow']));
  program.command('concealed', { hidden: true }).description('a hidden command');
  return program;
}

describe('the completion tree', () => {
  const tree = completionTree(buildProgram(deps));
  const at = (...path: string[]) => {
    let node = tree;
    for (const name of path) node = node.subcommands.find((sub) => sub.names[0] === name)!;
    return node;
  };

  it('holds every command, with aliases, the choices of flags and arguments, and no hidden flag', () => {
    expect(tree.subcommands.map((s) => s.names[0])).toEqual(
      expect.arrayContaining([
        'server',
        'keys',
        'audit',
        'agent',
        'swarm',
        'dead-letters',
        'subtask',
        'hosts',
        'config',
        'completion',
        'help',
      ]),
    );
    expect(at('agent', 'remove').names).toEqual(['remove', 'deregister']);
    expect(at('swarm', 'join').options.find((o) => o.flags.includes('--role'))?.choices).toEqual([...SWARM_ROLES]);
    expect(at('completion').arguments).toEqual([{ name: 'shell', required: true, variadic: false, choices: ['bash', 'zsh', 'fish'] }]);
    // The global flags are offered under every command; -h/--help once.
    expect(at('keys', 'list').options.flatMap((o) => o.flags)).toEqual(expect.arrayContaining(['-o', '--output', '--url', '--api-key']));
    expect(
      at('keys', 'list')
        .options.flatMap((o) => o.flags)
        .filter((f) => f === '--help'),
    ).toHaveLength(1);
    // keys create --role is hidden: never offered, yet its value is still skipped when typed.
    expect(at('keys', 'create').options.flatMap((o) => o.flags)).not.toContain('--role');
    expect(at('keys', 'create').valueFlags).toContain('--role');
    // The implicit `help [command]` names one of its siblings.
    expect(at('swarm', 'help').arguments[0]?.choices).toEqual(expect.arrayContaining(['join', 'leave', 'work']));
    expect(at('swarm', 'help').arguments[0]?.choices).not.toContain('help');
  });
});

describe('bash', () => {
  const script = scriptFile('bash');
  const driver = [
    'source "$1" || exit 9',
    'shift',
    'COMP_WORDS=("$@")',
    'COMP_CWORD=$((${#COMP_WORDS[@]} - 1))',
    'COMP_LINE="${COMP_WORDS[*]}"',
    'COMP_POINT=${#COMP_LINE}',
    '"$(complete -p aitbc | sed "s/.*-F \\([^ ]*\\) .*/\\1/")" aitbc "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');

  /** What bash offers for `words`, the last being the word under the cursor (as bash splits the line: `=` on its own). */
  function completeWords(words: string[], file = script): string[] {
    const result = run('/bin/bash', ['--norc', '--noprofile', '-c', driver, 'bash', file, ...words]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return result.stdout.split('\n').filter(Boolean);
  }
  /** `complete('aitbc swarm j')`: the line split at spaces, the cursor at its end. */
  const complete = (line: string, file = script) => completeWords(line.split(' '), file);

  it('registers _aitbc for aitbc', () => {
    expect(run('/bin/bash', ['--norc', '--noprofile', '-c', 'source "$1" && complete -p aitbc', 'bash', script]).stdout).toBe(
      'complete -F _aitbc aitbc\n',
    );
  });

  it('completes the nouns, then their verbs, aliases included', () => {
    expect(complete('aitbc ')).toEqual([
      'server',
      'keys',
      'audit',
      'agent',
      'swarm',
      'dead-letters',
      'subtask',
      'hosts',
      'config',
      'completion',
      'help',
    ]);
    expect(complete('aitbc sw')).toEqual(['swarm']);
    expect(complete('aitbc swarm j')).toEqual(['join']);
    expect(complete('aitbc swarm ')).toEqual(expect.arrayContaining(['join', 'leave', 'list', 'coordinate', 'consensus', 'work', 'help']));
    expect(complete('aitbc agent network o')).toEqual(['optimize']);
    expect(complete('aitbc agent de')).toEqual(['deregister']);
    expect(complete('aitbc help ')).toEqual([
      'server',
      'keys',
      'audit',
      'agent',
      'swarm',
      'dead-letters',
      'subtask',
      'hosts',
      'config',
      'completion',
    ]);
    expect(complete('aitbc swarm help j')).toEqual(['join']);
  });

  it('completes the listed values of a flag', () => {
    expect(complete('aitbc swarm join --role ')).toEqual(['load-balancer', 'resource-optimizer', 'task-coordinator', 'monitor']);
    expect(complete('aitbc swarm join --role ')).toEqual([...SWARM_ROLES]);
    expect(complete('aitbc swarm join --role t')).toEqual(['task-coordinator']);
    expect(complete('aitbc keys create --scope ')).toEqual(['worker', 'read', 'owner', 'admin']);
    expect(complete('aitbc keys create --scope ')).toEqual([...KEY_SCOPES]);
    expect(complete('aitbc swarm coordinate --strategy ')).toEqual([...SWARM_STRATEGIES]);
    expect(complete('aitbc agent network create --strategy ')).toEqual([...COORDINATION_STRATEGIES]);
    expect(complete('aitbc agent network optimize net-1 --objective ')).toEqual([...OBJECTIVES]);
    expect(complete('aitbc completion ')).toEqual(['bash', 'zsh', 'fish']);
  });

  it('completes the global flags and their values anywhere, in every spelling', () => {
    expect(complete('aitbc -o ')).toEqual([...OUTPUT_FORMATS]);
    expect(complete('aitbc --output j')).toEqual(['json']);
    expect(complete('aitbc --')).toEqual(['--version', '--url', '--api-key', '--output', '--help']);
    expect(complete('aitbc keys list --o')).toEqual(['--owner', '--output']);
    expect(complete('aitbc -o json --url http://x swarm j')).toEqual(['join']);
    expect(complete('aitbc swarm join --output ')).toEqual(['table', 'json', 'yaml']);
    // `--output=y`: bash splits it at `=` (the default COMP_WORDBREAKS) ...
    expect(completeWords(['aitbc', 'swarm', 'join', '--output', '='])).toEqual(['table', 'json', 'yaml']);
    expect(completeWords(['aitbc', 'swarm', 'join', '--output', '=', 'y'])).toEqual(['yaml']);
    expect(completeWords(['aitbc', '--output', '=', 'json', 'swarm', 'j'])).toEqual(['join']);
    // ... or, without `=` in COMP_WORDBREAKS, hands over the whole word.
    expect(complete('aitbc swarm join --output=y')).toEqual(['--output=yaml']);
  });

  it("completes a command's flags; on an empty word once nothing more must be named", () => {
    expect(complete('aitbc agent work --')).toEqual(expect.arrayContaining(['--agent', '--exec', '--concurrency', '--output', '--help']));
    expect(complete('aitbc agent work --e')).toEqual(['--exec']);
    expect(complete('aitbc swarm join --role monitor ')).toEqual(expect.arrayContaining(['--capability', '--priority', '-o', '--output']));
    // `agent get <agent>` needs an id first, which completion does not know.
    expect(complete('aitbc agent get ')).toEqual([]);
    expect(complete('aitbc agent get a1 ')).toEqual(expect.arrayContaining(['--output', '--help']));
    // A flag's free-form value is not guessed; the word after it is not a subcommand.
    expect(complete('aitbc swarm join --capability ')).toEqual([]);
    expect(complete('aitbc --url swarm ')).toEqual([
      'server',
      'keys',
      'audit',
      'agent',
      'swarm',
      'dead-letters',
      'subtask',
      'hosts',
      'config',
      'completion',
      'help',
    ]);
  });

  it('never offers a hidden flag or command', () => {
    expect(complete('aitbc keys create --r')).toEqual([]);
    expect(complete('aitbc keys create --')).not.toContain('--role');
    expect(complete('aitbc keys create --role ')).toEqual([]);
    expect(complete('aitbc keys create --role owner --l')).toEqual(['--label']);
    const extra = scriptFile('bash', programWithExtra(), 'extra.bash');
    expect(complete('aitbc c', extra)).toEqual(['config', 'completion']);
    expect(complete('aitbc extra --', extra)).toEqual(expect.arrayContaining(['--flavour', '--output']));
    expect(complete('aitbc extra --', extra)).not.toContain('--secret');
  });

  it('follows a command or choice added later, with no change to the completion code', () => {
    const extra = scriptFile('bash', programWithExtra(), 'extra.bash');
    expect(complete('aitbc ex', extra)).toEqual(['extra']);
    expect(complete('aitbc extra --flavour ', extra)).toEqual(['salty', 'sweet']);
    expect(complete('aitbc extra ', extra)).toEqual(['fast', 'slow']);
    expect(complete('aitbc extra --secret ', extra)).toEqual([]);
  });
});

/** Completes each line (TAB at its end) in an interactive zsh on a pty; prints `== line` then the matches. */
const ZPTY_HARNESS = String.raw`
zmodload zsh/zpty || exit 3
mode=$1
export ZTARGET=$2 ZOUT=$3.cur
out=$3
shift 3
zpty z zsh -f -i
init="PROMPT='> '; bindkey -e; autoload -Uz compinit; compinit -u -D"
if [[ $mode == fpath ]]; then init="fpath=(\$ZTARGET \$fpath); $init"; else init="$init; source \$ZTARGET"; fi
zpty -w z "$init; print -r -- READY"
zpty -r z ready '*READY*' || exit 4
# Every match zsh would list also goes to $ZOUT, and TAB marks there the end of each completion.
zpty -w z 'compadd() { if [[ $@[1,(i)(-|--)] == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi; local -a __zpty_m; builtin compadd -O __zpty_m "$@"; (( $#__zpty_m )) && print -rl -- "$IPREFIX"$^__zpty_m >> $ZOUT; builtin compadd "$@"; }'
zpty -w z '__complete() { zle complete-word; print -r -- END-OF-COMPLETION >> $ZOUT; }; zle -N __complete; bindkey "^I" __complete'
for line in "$@"; do
  : >| $ZOUT
  zpty -w -n z "$line"$'\t'
  for i in {1..200}; do
    grep -q '^END-OF-COMPLETION$' $ZOUT 2>/dev/null && break
    sleep 0.05
  done
  grep -q '^END-OF-COMPLETION$' $ZOUT || { print -r -- "no completion for: $line" >&2; exit 5; }
  print -r -- "== $line" >> $out
  grep -v '^END-OF-COMPLETION$' $ZOUT >> $out
  zpty -w -n z $'\C-u'
done
zpty -d z
`;

/** `{line: matches}`, from the harness's output. */
function sections(text: string): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  let current: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('== ')) result[line.slice(3)] = current = [];
    else if (line) current.push(line);
  }
  return result;
}

describe.skipIf(!hasZsh)('zsh', () => {
  const script = scriptFile('zsh');

  it('parses (zsh -n)', () => {
    expect(run('zsh', ['-n', script])).toMatchObject({ code: 0, stderr: '' });
  });

  it('works out, word by word, what to offer (__aitbc_candidates)', () => {
    const candidates = (...words: string[]) => {
      const result = run('zsh', [
        '-f',
        '-c',
        'source "$1" && shift && words=("$@") && CURRENT=$# && __aitbc_candidates && print -rl -- "$__aitbc_kind" "${__aitbc_prefix:--}" "${__aitbc_items[@]}"',
        'zsh',
        script,
        ...words,
      ]);
      expect(result.stderr).toBe('');
      const [kind, prefix, ...items] = result.stdout.trimEnd().split('\n');
      return { kind, prefix, items: items.map((item) => item.replace(/(?<!\\):.*/, '')) };
    };
    expect(candidates('aitbc', '').kind).toBe('commands');
    expect(candidates('aitbc', '').items).toEqual([
      'server',
      'keys',
      'audit',
      'agent',
      'swarm',
      'dead-letters',
      'subtask',
      'hosts',
      'config',
      'completion',
      'help',
    ]);
    expect(candidates('aitbc', 'swarm', 'join', '--role', '')).toEqual({ kind: 'values', prefix: '-', items: [...SWARM_ROLES] });
    expect(candidates('aitbc', 'swarm', 'join', '--output=j')).toEqual({ kind: 'values', prefix: '--output=', items: [...OUTPUT_FORMATS] });
    expect(candidates('aitbc', 'keys', 'create', '--')).toMatchObject({ kind: 'flags' });
    expect(candidates('aitbc', 'keys', 'create', '--').items).not.toContain('--role');
  });

  // Real completion needs a terminal: zsh's zpty module gives it one.
  const completeIn = (mode: 'fpath' | 'source', target: string, lines: string[]) => {
    const harness = join(dir, 'zpty-harness.zsh');
    writeFileSync(harness, ZPTY_HARNESS);
    const out = join(mkdtempSync(join(dir, 'zpty-')), 'out');
    const result = run('zsh', ['-f', harness, mode, target, out, ...lines]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return sections(readFileSync(out, 'utf8'));
  };

  it('completes through compinit when installed in $fpath as _aitbc', () => {
    const fpathDir = join(dir, 'zsh-functions');
    mkdirSync(fpathDir, { recursive: true });
    scriptFile('zsh', buildProgram(deps), 'zsh-functions/_aitbc');
    const got = completeIn('fpath', fpathDir, [
      'aitbc ',
      'aitbc swarm j',
      'aitbc swarm join --role ',
      'aitbc keys create --scope ',
      'aitbc agent work --',
      'aitbc -o ',
      'aitbc swarm join --output=y',
      'aitbc keys create --r',
    ]);
    expect(got['aitbc ']).toEqual(expect.arrayContaining(['agent', 'swarm', 'keys', 'audit', 'completion', 'config', 'server']));
    expect(got['aitbc swarm j']).toEqual(['join']);
    expect(got['aitbc swarm join --role ']).toEqual(expect.arrayContaining([...SWARM_ROLES]));
    expect(got['aitbc swarm join --role ']).toHaveLength(SWARM_ROLES.length);
    expect([...got['aitbc keys create --scope ']!].sort()).toEqual([...KEY_SCOPES].sort());
    expect(got['aitbc agent work --']).toEqual(expect.arrayContaining(['--agent', '--exec', '--output']));
    expect([...got['aitbc -o ']!].sort()).toEqual([...OUTPUT_FORMATS].sort());
    expect(got['aitbc swarm join --output=y']).toEqual(['--output=yaml']);
    expect(got['aitbc keys create --r']).toEqual([]);
  });

  it('completes when sourced after compinit', () => {
    const got = completeIn('source', script, ['aitbc ', 'aitbc agent network optimize n1 --objective ']);
    expect(got['aitbc ']).toEqual(expect.arrayContaining(['agent', 'swarm', 'keys']));
    expect([...got['aitbc agent network optimize n1 --objective ']!].sort()).toEqual([...OBJECTIVES].sort());
  });
});

describe.skipIf(!hasFish)('fish', () => {
  const script = scriptFile('fish');
  /** What `complete -C` gives for `line`, without the descriptions, sorted (fish sorts in its own way). */
  const complete = (line: string, file = script) => {
    const result = run('fish', ['--no-config', '-c', 'source $argv[1]; and complete -C $argv[2]', file, line]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return result.stdout
      .split('\n')
      .filter(Boolean)
      .map((entry) => entry.split('\t')[0]!)
      .sort();
  };
  const sorted = (list: readonly string[]) => [...list].sort();

  it('parses (fish --no-execute)', () => {
    expect(run('fish', ['--no-config', '--no-execute', script])).toMatchObject({ code: 0, stderr: '' });
  });

  it('completes nouns, verbs, listed values and flags', () => {
    expect(complete('aitbc ')).toEqual(
      sorted(['server', 'keys', 'audit', 'agent', 'swarm', 'dead-letters', 'subtask', 'hosts', 'config', 'completion', 'help']),
    );
    expect(complete('aitbc swarm j')).toEqual(['join']);
    expect(complete('aitbc swarm join --role ')).toEqual(sorted(SWARM_ROLES));
    expect(complete('aitbc keys create --scope ')).toEqual(sorted(KEY_SCOPES));
    expect(complete('aitbc -o ')).toEqual(sorted(OUTPUT_FORMATS));
    expect(complete('aitbc -o json swarm coordinate --strategy ')).toEqual(sorted(SWARM_STRATEGIES));
    expect(complete('aitbc swarm join --output=y')).toEqual(['--output=yaml']);
    expect(complete('aitbc agent work --')).toEqual(expect.arrayContaining(['--agent', '--exec', '--output']));
    expect(complete('aitbc completion ')).toEqual(sorted(['bash', 'zsh', 'fish']));
    expect(complete('aitbc keys create --r')).toEqual([]);
    expect(complete('aitbc --url swarm ')).toEqual(
      sorted(['server', 'keys', 'audit', 'agent', 'swarm', 'dead-letters', 'subtask', 'hosts', 'config', 'completion', 'help']),
    );
  });

  it('follows a command added later', () => {
    const extra = scriptFile('fish', programWithExtra(), 'extra.fish');
    expect(complete('aitbc extra --flavour ', extra)).toEqual(['salty', 'sweet']);
    expect(complete('aitbc extra ', extra)).toEqual(['fast', 'slow']);
    expect(complete('aitbc con', extra)).toEqual(['config']);
  });
});

describe('the aitbc process', () => {
  const home = tempHome();
  afterAll(() => home.remove());

  it('prints the bash script and exits 0; bash completes with what it printed', async () => {
    const result = await aitbc(['completion', 'bash'], { home: home.home });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(runCompletion('bash', buildProgram(deps)));
    const file = join(dir, 'printed.bash');
    writeFileSync(file, result.stdout);
    const driven = run('/bin/bash', [
      '--norc',
      '--noprofile',
      '-c',
      'source "$1"; COMP_WORDS=(aitbc swarm join --role ""); COMP_CWORD=4; _aitbc; printf "%s\\n" "${COMPREPLY[@]}"',
      'bash',
      file,
    ]);
    expect(driven.stdout.trim().split('\n')).toEqual([...SWARM_ROLES]);
  });

  it('refuses an unknown shell, or none, as a usage error (exit 2)', async () => {
    const unknown = await aitbc(['completion', 'tcsh'], { home: home.home });
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toBe(
      "aitbc: command-argument value 'tcsh' is invalid for argument 'shell'. Allowed choices are bash, zsh, fish.\n",
    );
    expect(unknown.code).toBe(2);
    const none = await aitbc(['completion'], { home: home.home });
    expect(none.stderr).toBe("aitbc: missing required argument 'shell'\n");
    expect(none.code).toBe(2);
  });

  it('says how to install it in its help', async () => {
    const help = await aitbc(['completion', '--help'], { home: home.home });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('source <(aitbc completion bash)');
    expect(help.stdout).toContain('~/.local/share/bash-completion/completions/aitbc');
    // That directory is bash-completion's: without the package nothing reads it.
    expect(help.stdout).toMatch(/completions\/aitbc\n\s+\(read only with the bash-completion package: apt install bash-completion/);
    expect(help.stdout).toContain('aitbc completion zsh > "${fpath[1]}/_aitbc"');
    expect(help.stdout).toContain('compinit');
    expect(help.stdout).toContain('aitbc completion fish > ~/.config/fish/completions/aitbc.fish');
  });
});

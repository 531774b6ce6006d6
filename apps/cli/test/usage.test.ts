// Wrong command lines: what the program says (one line on stderr, exit 2 in
// main), without a server. buildProgram with captured output, as main runs it.
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/program.ts';
import type { CliDeps } from '../src/session.ts';

async function usage(args: string[]): Promise<{ stderr: string; error: unknown }> {
  let stderr = '';
  const deps: CliDeps = {
    env: { HOME: '/nonexistent', AITBC_API_KEY: 'k' },
    cwd: '/',
    stdout: () => {},
    stderr: (text) => {
      stderr += text;
    },
    connect: () => {
      throw new Error('no server call expected');
    },
    loadServer: () => Promise.reject(new Error('no server expected')),
  };
  const error = await buildProgram(deps)
    .parseAsync(args, { from: 'user' })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  return { stderr, error };
}

describe('a wrong command line', () => {
  it('names a misspelt option, with the one meant, before any required option it left out', async () => {
    const { stderr, error } = await usage(['agent', 'register', '--nam', 'x']);
    expect(stderr).toBe("aitbc: unknown option '--nam' (Did you mean --name?)\n");
    expect(error).toBeInstanceOf(CommanderError);
    expect((error as CommanderError).code).toBe('commander.unknownOption');
  });

  it('suggests on one line for an option of a command without required ones, and a global option too', async () => {
    expect((await usage(['agent', 'list', '--limt', '3'])).stderr).toBe("aitbc: unknown option '--limt' (Did you mean --limit?)\n");
    expect((await usage(['agent', 'list', '--outptu', 'json'])).stderr).toBe("aitbc: unknown option '--outptu' (Did you mean --output?)\n");
  });

  it('still says a required option is missing when nothing else is wrong', async () => {
    expect((await usage(['agent', 'register'])).stderr).toBe("aitbc: required option '--name <name>' not specified\n");
    expect((await usage(['agent', 'register', '--description', 'd'])).stderr).toBe(
      "aitbc: required option '--name <name>' not specified\n",
    );
  });

  it('names an unknown option that resembles none without a suggestion', async () => {
    expect((await usage(['agent', 'register', '--zzzzzz', 'x'])).stderr).toBe("aitbc: unknown option '--zzzzzz'\n");
  });
});

// The process entry (bin/aitbc.mjs): real dependencies, argv, exit codes.
// Exit 0 on success, 1 when a command fails, 2 for a wrong command line.
import { createClient } from '@aitbc/client';
import { CommanderError } from 'commander';
import { CliError } from './failure.ts';
import { buildProgram } from './program.ts';
import type { CliDeps } from './session.ts';

const deps: CliDeps = {
  env: process.env,
  cwd: process.env.INIT_CWD ?? process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  connect: createClient,
  loadServer: () => import('@aitbc/server'),
};

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram(deps).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    // Commander has already printed its message (or the help/version it was asked for).
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const failure = error instanceof CliError ? error : new CliError(error instanceof Error ? error.message : String(error));
    deps.stderr(`aitbc: ${failure.message}\n`);
    return failure.exitCode;
  }
}

// `aitbc agent list | head -1`: a reader that stops early is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') process.stderr.write(`aitbc: cannot write the output: ${error.message}\n`);
  process.exit(error.code === 'EPIPE' ? (process.exitCode ?? 0) : 1);
});

process.exitCode = await main(process.argv.slice(2));

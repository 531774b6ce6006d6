// `aitbc completion bash|zsh|fish`: a completion script generated from the
// program's own commander tree (commands, flags, `.choices(...)` values).
import { Argument, type Command } from 'commander';
import type { CliDeps } from '../../session.ts';
import { bashScript } from './bash.ts';
import { fishScript } from './fish.ts';
import { completionTree, stem } from './model.ts';
import { zshScript } from './zsh.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

const SCRIPTS = { bash: bashScript, zsh: zshScript, fish: fishScript } as const;

/** The completion script for `shell`, for `program` as it stands (every command added so far). */
export function runCompletion(shell: Shell, program: Command): string {
  return SCRIPTS[shell](completionTree(program), program.name(), stem(program));
}

function installHelp(name: string): string {
  return `
Install it once; it completes commands, flags and their listed values (not ids from the server):
  bash  add to ~/.bashrc:  source <(${name} completion bash)
        or:  ${name} completion bash > ~/.local/share/bash-completion/completions/${name}
             (read only with the bash-completion package: apt install bash-completion, brew install bash-completion@2)
  zsh   ${name} completion zsh > "\${fpath[1]}/_${name}"   then run compinit (or open a new shell)
  fish  ${name} completion fish > ~/.config/fish/completions/${name}.fish
Regenerate it after upgrading ${name}.`;
}

export function addCompletion(program: Command, deps: CliDeps): void {
  program
    .command('completion')
    .description('print a shell completion script: bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .addHelpText('after', installHelp(program.name()))
    .action((shell: Shell) => {
      deps.stdout(runCompletion(shell, program));
    });
}

// What completion knows about the program, read from the commander tree itself:
// a command, a flag or a `.choices(...)` added later is completed with no change here.
import type { Argument, Command, Option } from 'commander';

export interface CompletionOption {
  /** `-o`, `--output`: the short flag (if any) first. */
  flags: string[];
  description: string;
  /** It takes a value (`<format>` or `[format]`). */
  takesValue: boolean;
  /** The values it accepts (commander `.choices(...)`); empty when any value goes. */
  choices: string[];
}

export interface CompletionArgument {
  name: string;
  required: boolean;
  variadic: boolean;
  choices: string[];
}

export interface CompletionNode {
  /** Canonical command names from the program down; [] for the program itself. */
  path: string[];
  /** What the user may type for it: its name, then its aliases. */
  names: string[];
  description: string;
  /** Visible subcommands, in help order (the implicit `help` command included). */
  subcommands: CompletionNode[];
  /**
   * The flags offered here: the command's visible options (with -h/--help) and the
   * visible options of its ancestors, which commander also accepts after a subcommand.
   */
  options: CompletionOption[];
  /** Every flag that takes a value here, hidden ones included: the word after it is that value, not a subcommand. */
  valueFlags: string[];
  arguments: CompletionArgument[];
}

function flagsOf(option: Option): string[] {
  return [option.short, option.long].filter((flag): flag is string => Boolean(flag));
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function optionOf(option: Option): CompletionOption {
  return {
    flags: flagsOf(option),
    description: oneLine(option.description),
    takesValue: option.required || option.optional,
    choices: [...(option.argChoices ?? [])],
  };
}

function argumentOf(argument: Argument): CompletionArgument {
  return { name: argument.name(), required: argument.required, variadic: argument.variadic, choices: [...(argument.argChoices ?? [])] };
}

/** The options a command's ancestors accept after it (commander's default, without positional options). */
function inheritedOptions(ancestors: readonly Command[]): Option[] {
  return ancestors.flatMap((ancestor) => ancestor.options);
}

function node(command: Command, path: string[], ancestors: readonly Command[], siblings: string[] | null): CompletionNode {
  const help = command.createHelp();
  const own = help.visibleOptions(command);
  const ownFlags = new Set(own.flatMap(flagsOf));
  const inherited = inheritedOptions(ancestors).filter((option) => !option.hidden && !flagsOf(option).some((flag) => ownFlags.has(flag)));
  const valueFlags = [...command.options, ...inheritedOptions(ancestors)]
    .filter((option) => option.required || option.optional)
    .flatMap(flagsOf);
  const args = command.registeredArguments.map(argumentOf);
  // The implicit `help [command]` takes the name of one of its siblings.
  if (siblings && args[0] && !args[0].choices.length) args[0] = { ...args[0], choices: siblings };
  const subcommands = help.visibleCommands(command);
  const subcommandNames = subcommands.map((sub) => sub.name());
  return {
    path,
    names: path.length ? [command.name(), ...command.aliases()] : [],
    description: oneLine(command.summary() || command.description()),
    subcommands: subcommands.map((sub) =>
      node(
        sub,
        [...path, sub.name()],
        [command, ...ancestors],
        // commander's implicit help command is not among command.commands.
        command.commands.includes(sub) ? null : subcommandNames.filter((name) => name !== sub.name()),
      ),
    ),
    options: [...own, ...inherited].map(optionOf),
    valueFlags: [...new Set(valueFlags)],
    arguments: args,
  };
}

/** The program's command tree as completion sees it: only what `--help` shows is offered. */
export function completionTree(program: Command): CompletionNode {
  return node(program, [], [], null);
}

/** Every command in the tree, the program first, parents before their subcommands. */
export function allNodes(root: CompletionNode): CompletionNode[] {
  return [root, ...root.subcommands.flatMap(allNodes)];
}

/** The shell function and variable stem for a program name: `aitbc` → `aitbc`, `my-cli` → `my_cli`. */
export function stem(program: Command): string {
  return program.name().replace(/\W/g, '_');
}

// The `aitbc` command tree. Global options come before the subcommand, as in
// the legacy Python CLI (they are also accepted after it).
import { Command, Option } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { addAgentGet } from './cmd/agent/get.ts';
import { addAgentList } from './cmd/agent/list.ts';
import { addAgentRegister } from './cmd/agent/register.ts';
import { addAgentRemove } from './cmd/agent/remove.ts';
import { addAgentUpdate } from './cmd/agent/update.ts';
import { addAgentWork } from './cmd/agent/work.ts';
import { addAuditList } from './cmd/audit/list.ts';
import { addCompletion } from './cmd/completion/completion.ts';
import { addDeadLettersList } from './cmd/dead-letters/list.ts';
import { addDeadLettersRedrive } from './cmd/dead-letters/redrive.ts';
import { addSubtaskGet } from './cmd/subtask/get.ts';
import { addNetworkCancel } from './cmd/network/cancel.ts';
import { addNetworkCreate } from './cmd/network/create.ts';
import { addNetworkDelete } from './cmd/network/delete.ts';
import { addNetworkExecute } from './cmd/network/execute.ts';
import { addNetworkExecution } from './cmd/network/execution.ts';
import { addNetworkExecutions } from './cmd/network/executions.ts';
import { addNetworkGet } from './cmd/network/get.ts';
import { addNetworkList } from './cmd/network/list.ts';
import { addNetworkOptimize } from './cmd/network/optimize.ts';
import { addNetworkStatus } from './cmd/network/status.ts';
import { addNetworkUpdate } from './cmd/network/update.ts';
import { addConfigShow } from './cmd/config/show.ts';
import { addHostLift } from './cmd/host/lift.ts';
import { addHostList } from './cmd/host/list.ts';
import { addKeysCreate } from './cmd/keys/create.ts';
import { addKeysList } from './cmd/keys/list.ts';
import { addKeysRevoke } from './cmd/keys/revoke.ts';
import { addKeysRotate } from './cmd/keys/rotate.ts';
import { addKeysWhoami } from './cmd/keys/whoami.ts';
import { addServerStart } from './cmd/server/start.ts';
import { addSwarmCancel } from './cmd/swarm/cancel.ts';
import { addSwarmConsensus } from './cmd/swarm/consensus.ts';
import { addSwarmCoordinate } from './cmd/swarm/coordinate.ts';
import { addSwarmHeartbeat } from './cmd/swarm/heartbeat.ts';
import { addSwarmJoin } from './cmd/swarm/join.ts';
import { addSwarmLeave } from './cmd/swarm/leave.ts';
import { addSwarmList } from './cmd/swarm/list.ts';
import { addSwarmMembers } from './cmd/swarm/members.ts';
import { addSwarmStatus } from './cmd/swarm/status.ts';
import { addSwarmWork } from './cmd/swarm/work.ts';
import type { CliDeps } from './session.ts';
import { OUTPUT_FORMATS } from './settings.ts';

/**
 * A command that reports an unknown option before a missing required one.
 * Commander checks required options first, so `agent register --nam x` said
 * "required option '--name <name>' not specified" and never got to its own
 * "unknown option '--nam' (Did you mean --name?)", the message that says what
 * was wrong. Every subcommand is one of these (createCommand).
 */
class AitbcCommand extends Command {
  /** What this command's own option parsing left over: an unknown option first, if there was one. */
  private leftOver: string[] = [];

  override createCommand(name?: string): Command {
    return new AitbcCommand(name);
  }

  override parseOptions(argv: string[]): ReturnType<Command['parseOptions']> {
    const parsed = super.parseOptions(argv);
    this.leftOver = parsed.unknown;
    return parsed;
  }

  /** Called by commander for a required option left out (not in its typings, as unknownOption is not). */
  missingMandatoryOptionValue(option: Option): void {
    const commander = Command.prototype as unknown as {
      unknownOption(this: Command, flag: string): void;
      missingMandatoryOptionValue(this: Command, option: Option): void;
    };
    const flag = this.leftOver[0];
    // unknownOption reports it and throws (exitOverride), unless this command allows unknown options.
    if (flag?.startsWith('-')) commander.unknownOption.call(this, flag);
    commander.missingMandatoryOptionValue.call(this, option);
  }
}

/**
 * Usage errors surface as CommanderError (exitOverride) after commander has
 * printed them as `aitbc: <message>` (one line: a suggestion joins it); main
 * decides the exit code.
 */
export function buildProgram(deps: CliDeps): Command {
  const program = new AitbcCommand('aitbc')
    .description('Command line for the aitbc-swarm coordination service')
    .version(pkg.version, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: deps.stdout,
      writeErr: deps.stderr,
      outputError: (text, write) => write(text.replace(/^error: /, 'aitbc: ').replace(/\n\(Did you mean /, ' (Did you mean ')),
    })
    .option('--url <url>', 'server URL (env AITBC_URL, config coordinator_url; default http://127.0.0.1:8000)')
    .option('--api-key <key>', 'API key sent as X-Api-Key (env AITBC_API_KEY, config api_key)')
    .addOption(new Option('-o, --output <format>', 'output format (default table)').choices(OUTPUT_FORMATS))
    .addHelpText('after', '\nSettings also come from ~/.aitbc/config.yaml (coordinator_url, api_key); see `aitbc config show`.');

  const server = program.command('server').description('run the coordination server');
  addServerStart(server, deps);

  const keys = program.command('keys').description('API keys: issue, list, rotate, revoke, and who you are');
  addKeysCreate(keys, deps);
  addKeysList(keys, deps);
  addKeysRotate(keys, deps);
  addKeysRevoke(keys, deps);
  addKeysWhoami(keys, deps);

  const audit = program
    .command('audit')
    .description('the audit log: who issued, rotated or revoked keys, or removed, archived, cancelled or left something');
  addAuditList(audit, deps);

  const agent = program.command('agent').description('your agents: register, list, get, update, remove, work; and their networks');
  addAgentRegister(agent, deps);
  addAgentList(agent, deps);
  addAgentGet(agent, deps);
  addAgentUpdate(agent, deps);
  addAgentRemove(agent, deps);
  addAgentWork(agent, deps);

  const network = agent.command('network').description('agent networks: create them, execute tasks on them, watch and tune them');
  for (const add of [
    addNetworkCreate,
    addNetworkList,
    addNetworkGet,
    addNetworkUpdate,
    addNetworkDelete,
    addNetworkExecute,
    addNetworkExecutions,
    addNetworkExecution,
    addNetworkCancel,
    addNetworkStatus,
    addNetworkOptimize,
  ]) {
    add(network, deps);
  }

  const swarm = program.command('swarm').description('swarms: join, leave, list, status, coordinate tasks, decide consensus, work');
  for (const add of [
    addSwarmJoin,
    addSwarmLeave,
    addSwarmList,
    addSwarmMembers,
    addSwarmStatus,
    addSwarmCoordinate,
    addSwarmConsensus,
    addSwarmCancel,
    addSwarmHeartbeat,
    addSwarmWork,
  ]) {
    add(swarm, deps);
  }

  const deadLetters = program
    .command('dead-letters')
    .description('subtasks that failed for good, failing their execution: list them, and redrive them once the cause is fixed');
  addDeadLettersList(deadLetters, deps);
  addDeadLettersRedrive(deadLetters, deps);

  const subtask = program.command('subtask').description('one subtask and its attempts');
  addSubtaskGet(subtask, deps);

  const hosts = program.command('hosts').description('hosts’ checked results: trust and quarantine (README "Verification")');
  addHostList(hosts, deps);
  addHostLift(hosts, deps);

  const config = program.command('config').description('the CLI settings in use');
  addConfigShow(config, deps);

  addCompletion(program, deps);

  return program;
}

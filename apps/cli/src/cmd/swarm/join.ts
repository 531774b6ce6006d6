import { type JoinView, MEMBER_PRIORITIES, type MemberPriority, SWARM_ROLES, type SwarmRole } from '@aitbc/core';
import { type Command, Option } from 'commander';
import { integerFrom } from '../../flags.ts';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

export interface SwarmJoinOptions {
  role: SwarmRole;
  capability: string;
  region?: string;
  priority?: MemberPriority;
  /** The machine it runs on (copies of one subtask never go to two members of one host). */
  host?: string;
  /** Join this swarm; without it, your swarm for the capability and region (made when there is none). */
  swarmId?: string;
  /** Seconds of silence before a member is suspect (sets the swarm's). */
  suspectAfter?: number;
  /** Seconds of silence before a member has failed (sets the swarm's). */
  failAfter?: number;
}

/** A new member; the server checks the role and priority and says which ones exist. */
export function runSwarmJoin(options: SwarmJoinOptions, { client }: Pick<Session, 'client'>): Promise<JoinView> {
  return client.swarm.join.mutate({
    role: options.role,
    capability: options.capability,
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.priority !== undefined ? { priority: options.priority } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.swarmId !== undefined ? { swarm_id: options.swarmId } : {}),
    ...(options.suspectAfter !== undefined ? { suspect_after_seconds: options.suspectAfter } : {}),
    ...(options.failAfter !== undefined ? { fail_after_seconds: options.failAfter } : {}),
  });
}

export function addSwarmJoin(swarm: Command, deps: CliDeps): void {
  swarm
    .command('join')
    .description('join a swarm as a new member (your swarm for the capability and region unless --swarm-id)')
    .addOption(new Option('--role <role>', "the member's role").choices(SWARM_ROLES).makeOptionMandatory())
    .requiredOption('--capability <tag>', 'what the member can do, e.g. gpu')
    .option('--region <region>', 'where the member runs')
    .addOption(new Option('--priority <priority>', 'ranking and vote weight (default normal)').choices(MEMBER_PRIORITIES))
    .option('--host <label>', 'the machine it runs on: copies of one subtask never go to two members of one host')
    .option('--swarm-id <id>', 'join this swarm')
    .option('--suspect-after <seconds>', "the swarm's: silent this long, a member is suspect (default 15)", integerFrom(1, 86_400))
    .option(
      '--fail-after <seconds>',
      "the swarm's: silent this long, a member has failed and its work moves on (default 45)",
      integerFrom(1, 86_400),
    )
    .action(
      withSession(deps, async (session, command) => {
        session.show(await runSwarmJoin(command.opts<SwarmJoinOptions>(), session), renderFields);
      }),
    );
}

import type { MemberHeartbeatView } from '@aitbc/core';
import type { Command } from 'commander';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';

/** A sign of life: a suspect or failed member is active again. (`swarm work` claims count as heartbeats.) */
export function runSwarmHeartbeat(options: { memberId: string }, { client }: Pick<Session, 'client'>): Promise<MemberHeartbeatView> {
  return client.swarm.heartbeat.mutate({ member_id: options.memberId });
}

export function addSwarmHeartbeat(swarm: Command, deps: CliDeps): void {
  swarm
    .command('heartbeat')
    .description('tell the swarm a member is alive (a running `swarm work` does this by itself)')
    .argument('<member-id>', 'the member id')
    .action(
      withSession(deps, async (session, command) => {
        const [memberId] = command.processedArgs as [string];
        session.show(await runSwarmHeartbeat({ memberId }, session), renderFields);
      }),
    );
}

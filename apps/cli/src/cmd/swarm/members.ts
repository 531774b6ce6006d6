import type { MemberView } from '@aitbc/core';
import type { Command } from 'commander';
import { type Column, count, renderTable } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { decimals, round, type SwarmMembers } from './render.ts';

/** Every member, those that left included, with its health and reputation. */
export function runSwarmMembers(options: { swarmId: string }, { client }: Pick<Session, 'client'>): Promise<SwarmMembers> {
  return client.swarm.members.query({ swarm_id: options.swarmId });
}

/** `3.2 s ago`; null (never, or it left) → "-". */
export function lastSeen(secondsSince: number | null): string | null {
  return secondsSince === null ? null : `${round(Math.round(secondsSince * 10) / 10)} s ago`;
}

export const memberColumns: Column<MemberView>[] = [
  { header: 'MEMBER', value: (m) => m.member_id },
  { header: 'ROLE', value: (m) => m.role },
  { header: 'CAPABILITY', value: (m) => m.capability },
  { header: 'REGION', value: (m) => m.region },
  { header: 'STATUS', value: (m) => m.status },
  { header: 'REPUTATION', value: (m) => decimals(m.reputation) },
  { header: 'LAST SEEN', value: (m) => lastSeen(m.seconds_since_heartbeat) },
];

/** `5 members: 4 active, 1 suspect, 0 failed, 0 left`. */
export function memberCountsText(c: SwarmMembers['member_counts']): string {
  const total = c.active + c.suspect + c.failed + c.left;
  return `${count(total, 'member')}: ${c.active} active, ${c.suspect} suspect, ${c.failed} failed, ${c.left} left`;
}

export function renderSwarmMembers(view: SwarmMembers): string {
  const table = view.members.length ? renderTable(view.members, memberColumns) + '\n' : '';
  return `${table}${memberCountsText(view.member_counts)} in swarm ${view.swarm_id}\n`;
}

export function addSwarmMembers(swarm: Command, deps: CliDeps): void {
  swarm
    .command('members')
    .description("a swarm's members, those that left included, with their status, reputation and last heartbeat")
    .argument('<swarm-id>', 'the swarm id')
    .action(
      withSession(deps, async (session, command) => {
        const [swarmId] = command.processedArgs as [string];
        session.show(await runSwarmMembers({ swarmId }, session), renderSwarmMembers);
      }),
    );
}

import type { HostView } from '@aitbc/core';
import type { Command } from 'commander';
import { renderFields } from '../../output.ts';
import { type CliDeps, type Session, withSession } from '../../session.ts';
import { hostState } from './list.ts';

export function runHostLift(options: { id: string }, { client }: Pick<Session, 'client'>): Promise<HostView> {
  return client.host.lift.mutate({ host_id: options.id });
}

export function renderHost(h: HostView): string {
  return renderFields({
    host_id: h.host_id,
    kind: h.kind,
    name: h.name,
    host: h.host,
    state: hostState(h),
    quarantined_until: h.quarantined_until,
    valid: h.valid,
    invalid: h.invalid,
    valid_streak: h.valid_streak,
    recent: h.recent,
    reputation: h.reputation,
    quarantines: h.quarantines,
  });
}

export function addHostLift(hosts: Command, deps: CliDeps): void {
  hosts
    .command('lift')
    .description('lift a host’s quarantine before its cool-down passes (it gets work again, untrusted)')
    .argument('<host-id>', 'the agent or member id')
    .action(
      withSession(deps, async (session, command) => {
        const [id] = command.processedArgs as [string];
        session.show(await runHostLift({ id }, session), renderHost);
      }),
    );
}

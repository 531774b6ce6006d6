/** swarm.join under autocannon, then swarm.leave of the members it made. */
import { call } from '../api.ts';
import { cannon } from '../drivers.ts';
import type { Scenario } from '../scenario.ts';

export const membership: Scenario = {
  name: 'membership',
  async run(ctx) {
    const { base, key, servers, rows, notes, settings } = ctx;
    // 2. swarm.join, then swarm.leave of the members it made.
    const joined: { swarm_id: string; member_id: string }[] = [];
    const joinRow = await cannon(
      'swarm.join',
      servers,
      key,
      {
        method: 'POST',
        path: '/swarm/join',
        body: () => ({ role: 'monitor', capability: 'bench-join' }),
      },
      settings,
    );
    rows.push(joinRow);
    const listed = await call<{ swarms: { swarm_id: string }[] }>(base, key, 'GET', '/swarm/list?limit=1&members_limit=0');
    const swarmId = listed.swarms[0]!.swarm_id;
    const members = await call<{ members: { member_id: string }[] }>(base, key, 'GET', `/swarm/${swarmId}/members`);
    joined.push(...members.members.map((m) => ({ swarm_id: swarmId, member_id: m.member_id })));
    let next = 0;
    rows.push(
      await cannon(
        'swarm.leave',
        servers,
        key,
        {
          method: 'POST',
          path: '/swarm/leave',
          body: () => {
            const m = joined[next++ % joined.length]!;
            return { swarm_id: m.swarm_id, member_id: m.member_id };
          },
        },
        settings,
      ),
    );
    // The first pass leaves each member once; the rest of the run re-leaves (409): not errors of the server.
    const last = rows[rows.length - 1]!;
    if (next > joined.length) {
      notes.push(
        `swarm.leave: ${joined.length} members left once; ${next - joined.length} later requests re-left a member (409 by design) and are not counted as errors`,
      );
      last.errors = Math.max(0, last.errors - (next - joined.length));
    }
  },
};

/** swarm.status at 100, 1,000 and 10,000 members, and network.status at 0 and N recorded subtasks. */
import { call, joinMembers } from '../api.ts';
import { cannon } from '../drivers.ts';
import type { Scenario } from '../scenario.ts';

export const status: Scenario = {
  name: 'status',
  async run(ctx) {
    const { base, key, servers, rows, settings } = ctx;
    // 3. status at 100, 1,000 and 10,000 members, and network status at N recorded subtasks.
    for (const size of settings.statusSizes) {
      const members = await joinMembers(base, key, `bench-status-${size}`, size);
      const swarmId = members[0]!.swarm_id;
      rows.push(
        await cannon(
          `swarm.status (${size} members)`,
          servers,
          key,
          { method: 'GET', path: `/swarm/status?swarm_id=${swarmId}` },
          settings,
        ),
      );
    }
    const agent = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: 'bench-recorder' });
    const network = await call<{ id: string }>(base, key, 'POST', '/api/v1/agents/networks', { name: 'recorded', agents: [agent.id] });
    rows.push(
      await cannon(
        'network.status (0 subtasks)',
        servers,
        key,
        { method: 'GET', path: `/api/v1/agents/networks/${network.id}/status` },
        settings,
      ),
    );
    for (let done = 0; done < settings.recordedSubtasks; done += 1000) {
      await call(base, key, 'POST', `/api/v1/agents/networks/${network.id}/execute`, {
        task: { subtasks: Array.from({ length: 1000 }, (_, i) => ({ n: done + i })) },
      });
    }
    rows.push(
      await cannon(
        `network.status (${settings.recordedSubtasks} subtasks)`,
        servers,
        key,
        {
          method: 'GET',
          path: `/api/v1/agents/networks/${network.id}/status`,
        },
        settings,
      ),
    );
  },
};

/** network.create with 10 agents, autocannon at 64 connections. */
import { call } from '../api.ts';
import { cannon } from '../drivers.ts';
import type { Scenario } from '../scenario.ts';

export const network: Scenario = {
  name: 'network',
  async run(ctx) {
    const { base, key, servers, rows, settings } = ctx;
    // 1. network.create with 10 agents.
    const agents = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call<{ id: string }>(base, key, 'POST', '/api/v1/agents', { name: `bench-agent-${i}`, capabilities: ['gpu'] }),
      ),
    );
    const ids = agents.map((a) => a.id);
    rows.push(
      await cannon(
        'network.create (10 agents)',
        servers,
        key,
        {
          method: 'POST',
          path: '/api/v1/agents/networks',
          body: () => ({ name: 'bench', agents: ids }),
        },
        settings,
      ),
    );
  },
};

import { router } from '../trpc.ts';
import { agentRouter } from './agent.ts';
import { executionRouter } from './execution.ts';
import { historyRouter } from './history.ts';
import { hostRouter } from './host.ts';
import { auditRouter } from './audit.ts';
import { deadLetterRouter } from './dead-letter.ts';
import { keyRouter } from './key.ts';
import { liveRouter } from './live.ts';
import { networkRouter } from './network.ts';
import { swarmRouter } from './swarm.ts';
import { workRouter } from './work.ts';

/**
 * REST paths are matched in the order procedures appear here, first match
 * wins: routers with fixed path segments under a parametrised prefix (e.g.
 * /api/v1/agents/networks vs /api/v1/agents/{agent_id}) must come first.
 */
export const appRouter = router({
  key: keyRouter,
  audit: auditRouter,
  network: networkRouter,
  execution: executionRouter,
  work: workRouter,
  deadLetter: deadLetterRouter,
  swarm: swarmRouter,
  host: hostRouter,
  agent: agentRouter,
  live: liveRouter,
  history: historyRouter,
});

export type AppRouter = typeof appRouter;

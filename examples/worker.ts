// An agent's worker: runs the subtasks the server assigns to one of your agents.
//
//   AITBC_API_KEY=… AGENT_ID=… node dist/worker.js
//
// Each subtask of an items task is a chunk `{ items, offset, params }`; this
// handler doubles the items and sums them. Ctrl-C (or SIGTERM) stops it after
// the subtasks it is running, and it prints what it did.
import { createWorker } from '@aitbc/client';
import { apiKey, need, url } from './env.js';

const worker = createWorker({
  url,
  apiKey,
  agent: need('AGENT_ID'),
  concurrency: 4,
  handler: async (payload) => {
    const { items } = payload as { items: number[] };
    return items.reduce((sum, x) => sum + 2 * x, 0);
  },
  log: (line) => console.error(line),
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.stop());
console.log(JSON.stringify(await worker.run())); // { claimed, completed, failed, lost }

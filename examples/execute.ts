// Execute a task on one of your networks and wait for its result.
//
//   AITBC_API_KEY=… NETWORK_ID=… node dist/execute.js
//
// The task splits 1…10 into chunks of 2 items, one subtask each; the
// network's workers (worker.ts) return each chunk's doubled sum, and `reduce:
// 'sum'` adds them up: 110.
import { createClient, describeError } from '@aitbc/client';
import { apiKey, need, url } from './env.js';

const aitbc = createClient({ url, apiKey });
const network_id = need('NETWORK_ID');

try {
  const items = Array.from({ length: 10 }, (_, i) => i + 1);
  const started = await aitbc.execution.execute.mutate({ network_id, task: { items, chunk_size: 2, reduce: 'sum' } });
  let execution = await aitbc.execution.get.query({ network_id, execution_id: started.id });
  while (execution.status === 'queued' || execution.status === 'running') {
    await new Promise((resolve) => setTimeout(resolve, 250));
    execution = await aitbc.execution.get.query({ network_id, execution_id: started.id });
  }
  console.log(JSON.stringify({ execution_id: execution.id, status: execution.status, reduced: execution.results?.reduced }));
} catch (error) {
  // The server's code and message (NOT_FOUND, UNAUTHORIZED, …), or why it could not be reached.
  const { code, message } = describeError(error);
  console.error(`${code}: ${message}`);
  process.exit(1);
}

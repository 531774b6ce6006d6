// A swarm member that votes: it joins your swarm for a capability and answers
// the consensus tasks it is given; the server decides each task by the votes.
//
//   AITBC_API_KEY=… ANSWER=42 node dist/swarm-voter.js
//
// Then, from anywhere: `aitbc swarm coordinate --task "what is 6*7" --strategy
// consensus --collaborators 3`. Ctrl-C (or SIGTERM) stops it and leaves the swarm.
import { createClient, createWorker } from '@aitbc/client';
import { apiKey, url } from './env.js';

const aitbc = createClient({ url, apiKey });
const capability = process.env.CAPABILITY?.trim() || 'answer';
const answer = Number(process.env.ANSWER ?? 42);

const member = await aitbc.swarm.join.mutate({ role: 'task-coordinator', capability });
console.log(JSON.stringify({ swarm_id: member.swarm_id, member_id: member.member_id }));

const worker = createWorker({
  client: aitbc,
  member: member.member_id,
  // The payload is the task (a legacy task's text, or `parameters.payload`): a real voter would look at it.
  handler: async () => ({ answer }),
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.stop());
const summary = await worker.run();
await aitbc.swarm.leave.mutate({ swarm_id: member.swarm_id, member_id: member.member_id });
console.log(JSON.stringify(summary));

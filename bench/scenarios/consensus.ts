/**
 * coordinate → member claims and votes → decided consensus, one request per step and then with createWorker voters,
 * beside many members heartbeating at 1 Hz.
 */
import { createWorker } from '../../packages/client/src/index.ts';
import { call, joinMembers } from '../api.ts';
import { loops } from '../drivers.ts';
import { row } from '../row.ts';
import type { Scenario } from '../scenario.ts';

export const consensus: Scenario = {
  name: 'consensus',
  async run(ctx) {
    const { base, key, servers, rows, notes } = ctx;
    const { heartbeatMembers: HEARTBEAT_MEMBERS, heartbeatSeconds: HEARTBEAT_SECONDS } = ctx.settings;
    // 4. coordinate → member claims and votes → decided consensus, with 5 (and 6.) heartbeats from many members at 1 Hz beside it.
    // Each loop has a swarm of its own 3 voters, so its claims only ever meet its own tasks.
    // The voters join last: joining the heartbeaters takes ~10 s, and a voter silent for 15 s would be suspect
    // before its loop starts (from then on, its claims keep it active).
    const heartbeaters = await joinMembers(base, key, 'bench-heartbeat', HEARTBEAT_MEMBERS);
    for (let i = 0; i < 16; i++) await joinMembers(base, key, `bench-vote-${i}`, 3);
    // The second half: SDK workers for the voters (createWorker), several tasks in flight per swarm, and the
    // coordinator long-polling each task's status until it is decided. Their workers start now: an idle
    // worker's long-polled claims are its signs of life.
    const workerSwarms = 4;
    const workerLoops = 64;
    const voters = (
      await Promise.all(Array.from({ length: workerSwarms }, (_, i) => joinMembers(base, key, `bench-sdk-vote-${i}`, 3)))
    ).flat();
    const voterWorkers = voters.map((m, i) =>
      createWorker({
        url: servers[i % servers.length]!.url,
        apiKey: key,
        member: m.member_id,
        concurrency: 64,
        waitSeconds: 5,
        handler: () => ({ answer: 42 }),
      }),
    );
    const voting = voterWorkers.map((w) => w.run());
    const hbIds = heartbeaters.map((m) => m.member_id);
    let heartbeatErrors = 0;
    let heartbeatsSent = 0;
    const hbLatencies: number[] = [];
    // Every member heartbeats once a second, in batches of 100 (a host per 100 members), each batch on its own
    // fixed slot within the second, as independent hosts would: a slow answer delays no later beat.
    const slots = Math.ceil(hbIds.length / 100);
    const sent: Promise<void>[] = [];
    const origin = performance.now();
    const heartbeats = (async () => {
      for (let second = 0; second < HEARTBEAT_SECONDS; second++) {
        for (let slot = 0; slot < slots; slot++) {
          const due = origin + second * 1000 + (slot * 1000) / slots;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const batch = hbIds.slice(slot * 100, slot * 100 + 100);
          const target = servers[slot % servers.length]!.url;
          sent.push(
            (async () => {
              const t = performance.now();
              try {
                const r = await call<{ accepted: number; refused: unknown[] }>(target, key, 'POST', '/swarm/heartbeats', {
                  member_ids: batch,
                });
                heartbeatsSent += r.accepted;
                heartbeatErrors += r.refused.length;
                hbLatencies.push(performance.now() - t);
              } catch {
                heartbeatErrors += batch.length;
              }
            })(),
          );
        }
      }
      await Promise.all(sent);
    })();
    let task = 0;
    const run = await loops(HEARTBEAT_SECONDS / 2, 16, async (i) => {
      const target = servers[i % servers.length]!.url;
      const t = await call<{ task_id: string; assigned_members: string[] }>(target, key, 'POST', '/swarm/coordinate', {
        task_id: `bench-${process.pid}-${task++}`,
        strategy: 'broadcast',
        parameters: { payload: { q: i }, collaborators: 3, capability: `bench-vote-${i}` },
      });
      for (const member of t.assigned_members) {
        const claim = await call<{ subtask: { subtask_id: string; lease_id: string } | null }>(
          target,
          key,
          'POST',
          `/swarm/members/${member}/claim`,
          {},
        );
        if (!claim.subtask) throw new Error(`member ${member} had nothing to claim`);
        await call(target, key, 'POST', `/api/v1/subtasks/${claim.subtask.subtask_id}/result`, {
          lease_id: claim.subtask.lease_id,
          result: { answer: 42 },
        });
      }
      const status = await call<{ status: string }>(target, key, 'GET', `/swarm/tasks/${t.task_id}/status`);
      if (status.status !== 'completed') throw new Error(`task ${t.task_id} is ${status.status} after its last vote`);
    });
    const sdk = await loops(HEARTBEAT_SECONDS / 2, workerLoops, async (i) => {
      const target = servers[i % servers.length]!.url;
      const t = await call<{ task_id: string }>(target, key, 'POST', '/swarm/coordinate', {
        task_id: `bench-${process.pid}-${task++}`,
        strategy: 'broadcast',
        parameters: { payload: { q: i }, collaborators: 3, capability: `bench-sdk-vote-${i % workerSwarms}` },
      });
      const status = await call<{ status: string }>(target, key, 'GET', `/swarm/tasks/${t.task_id}/status?wait_seconds=10`);
      if (status.status !== 'completed') throw new Error(`task ${t.task_id} is ${status.status} after waiting for it`);
    });
    for (const w of voterWorkers) w.stop();
    const voted = await Promise.all(voting);
    await heartbeats;
    // The heartbeating members leave now: silent, they would turn suspect and then failed while later
    // scenarios run, and the failure detector's writes would be measured as theirs.
    await call(base, key, 'POST', '/swarm/leave', { swarm_id: heartbeaters[0]!.swarm_id });
    // Until the last answer: a server that falls behind shows as a rate under HEARTBEAT_MEMBERS/s.
    const hbSeconds = (performance.now() - origin) / 1000;
    rows.push(
      row('coordinate → consensus (3 voters), one request per step', 'tasks/s', run.latencies, HEARTBEAT_SECONDS / 2, run.errors, servers),
    );
    rows.push(
      row(
        `coordinate → consensus (3 voters), createWorker voters, status long-polled (${workerLoops} tasks in flight)`,
        'tasks/s',
        sdk.latencies,
        HEARTBEAT_SECONDS / 2,
        sdk.errors + voted.reduce((n, v) => n + v.lost, 0),
        servers,
      ),
    );
    if (sdk.messages.length) notes.push(`coordinate → consensus (createWorker) errors: ${sdk.messages.join(' | ')}`);
    rows.push(
      row(
        `heartbeats (${HEARTBEAT_MEMBERS} members at 1 Hz, batches of 100)`,
        'beats/s',
        hbLatencies.flatMap((l) => Array(100).fill(l)),
        hbSeconds,
        heartbeatErrors,
        servers,
      ),
    );
    if (run.messages.length) notes.push(`coordinate → consensus errors: ${run.messages.join(' | ')}`);
    notes.push(
      `heartbeats: ${heartbeatsSent} accepted, sent over ${HEARTBEAT_SECONDS} s and answered within ${hbSeconds.toFixed(1)} s (latency is per batch request of 100)`,
    );
  },
};

// Several server instances on one PostgreSQL: claims, consensus and lease
// expiry are decided exactly once across them, and what happens on one is
// heard on the other (LISTEN/NOTIFY).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../src/events.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { databaseKinds } from './support/databases.ts';
import { restClient } from './support/http.ts';
import { recountAggregates } from './support/recount.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { eventually, sleep } from './support/waiting.ts';

type Call = ReturnType<typeof restClient>;

describe.skipIf(!databaseKinds.includes('postgresql'))('two instances on one PostgreSQL', () => {
  let a: TestServer;
  let b: RunningServer;
  let dataDir: string;
  let onA: Call;
  let onB: Call;
  let key: string;

  beforeAll(async () => {
    a = await startTestServer('postgresql');
    dataDir = mkdtempSync(join(tmpdir(), 'aitbc-second-'));
    b = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir,
      databaseUrl: a.database.target.url,
      adminApiKeys: [a.adminKey],
      bodyLimit: 1024 * 1024,
      logLevel: 'silent',
      sweepIntervalMs: 200,
      heartbeatFlushMs: 100,
    });
    key = await a.keyFor('alice');
    onA = restClient(a.url, key);
    onB = restClient(b.url, key);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a key revoked on one instance stops working on the other at once, cache or not', async () => {
    const issued = await restClient(a.url, a.adminKey)('POST', '/api/v1/keys', { owner_id: 'carol' });
    const carolOnB = restClient(b.url, issued.body.key);
    expect((await carolOnB('GET', '/api/v1/whoami')).status).toBe(200); // now cached on B
    expect((await restClient(a.url, a.adminKey)('DELETE', `/api/v1/keys/${issued.body.id}`)).status).toBe(200);
    // The revocation travels by NOTIFY; well inside B's 2 s cache lifetime it is refused.
    await eventually(async () => (await carolOnB('GET', '/api/v1/whoami')).status === 401, 1000);
  });

  it('of 20 claims on one subtask, spread over both instances, exactly one wins', async () => {
    const agent = (await onA('POST', '/api/v1/agents', { name: 'racer' })).body;
    const network = (await onA('POST', '/api/v1/agents/networks', { name: 'race', agents: [agent.id] })).body;
    const e = (await onB('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { one: 1 } })).body;
    const claims = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? onA : onB)('POST', `/api/v1/agents/${agent.id}/claim`, {})),
    );
    expect(claims.map((c) => c.status)).toEqual(Array(20).fill(200));
    const winners = claims.filter((c) => c.body.subtask);
    expect(winners).toHaveLength(1);
    expect(winners[0]!.body.subtask.subtask_id).toBe(e.subtasks[0].id);
  });

  it('a claim waiting on one instance wakes when work is assigned through the other (NOTIFY), not at the end of its wait', async () => {
    const agent = (await onA('POST', '/api/v1/agents', { name: 'sleeper' })).body;
    const network = (await onA('POST', '/api/v1/agents/networks', { name: 'wake', agents: [agent.id] })).body;
    const waiting = onB('POST', `/api/v1/agents/${agent.id}/claims`, { max: 5, wait_seconds: 20 });
    await sleep(300);
    const submitted = performance.now();
    await onA('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { subtasks: [1, 2] } });
    const answer = await waiting;
    expect(performance.now() - submitted).toBeLessThan(2000);
    expect(answer.body.subtasks.map((s: { payload: number }) => s.payload)).toEqual([1, 2]);
  });

  it('a task status waiting on one instance answers when the task ends through the other (NOTIFY)', async () => {
    const m = (await onA('POST', '/swarm/join', { role: 'monitor', capability: 'far-end' })).body;
    const t = (await onA('POST', '/swarm/coordinate', { strategy: 'broadcast', parameters: { capability: 'far-end', collaborators: 1 } }))
      .body;
    const waiting = onB('GET', `/swarm/tasks/${t.task_id}/status?wait_seconds=20`);
    await sleep(300);
    const c = (await onA('POST', `/swarm/members/${m.member_id}/claim`, {})).body.subtask;
    const posted = performance.now();
    await onA('POST', `/api/v1/subtasks/${c.subtask_id}/result`, { lease_id: c.lease_id, result: 'done' });
    const answer = await waiting;
    expect(performance.now() - posted).toBeLessThan(2000);
    expect(answer.body).toMatchObject({ status: 'completed', result: 'done' });
  });

  it('two last votes arriving at both instances at once decide the consensus once', async () => {
    const m1 = (await onA('POST', '/swarm/join', { role: 'monitor', capability: 'twin' })).body;
    const m2 = (await onB('POST', '/swarm/join', { role: 'monitor', capability: 'twin' })).body;
    const t = (
      await onA('POST', '/swarm/coordinate', { strategy: 'broadcast', parameters: { capability: 'twin', collaborators: 2, payload: 'q' } })
    ).body;
    const c1 = (await onA('POST', `/swarm/members/${m1.member_id}/claim`, {})).body.subtask;
    const c2 = (await onB('POST', `/swarm/members/${m2.member_id}/claim`, {})).body.subtask;
    const [r1, r2] = await Promise.all([
      onA('POST', `/api/v1/subtasks/${c1.subtask_id}/result`, { lease_id: c1.lease_id, result: 'yes' }),
      onB('POST', `/api/v1/subtasks/${c2.subtask_id}/result`, { lease_id: c2.lease_id, result: 'yes' }),
    ]);
    expect([r1.status, r2.status]).toEqual([200, 200]);
    const status = (await onB('GET', `/swarm/tasks/${t.task_id}/status`)).body;
    expect(status).toMatchObject({ status: 'completed', result: 'yes', consensus: { consensus_reached: true, confidence_score: 1 } });
    // Decided twice, each reputation would have moved twice: 0.5 → 0.6 → 0.68.
    const members = (await onA('GET', `/swarm/${m1.swarm_id}/members`)).body.members;
    expect(members.map((m: any) => m.reputation)).toEqual([0.6, 0.6]);
  });

  it('tasks sharing members, decided at once on both instances, keep every reputation change', async () => {
    const TASKS = 8;
    const m1 = (await onA('POST', '/swarm/join', { role: 'monitor', capability: 'shared-rep' })).body;
    const m2 = (await onB('POST', '/swarm/join', { role: 'monitor', capability: 'shared-rep' })).body;
    const tasks: { task_id: string }[] = [];
    for (let i = 0; i < TASKS; i++)
      tasks.push(
        (
          await onA('POST', '/swarm/coordinate', {
            strategy: 'broadcast',
            parameters: { capability: 'shared-rep', collaborators: 2, payload: 'q', lease_seconds: 120 },
          })
        ).body,
      );
    const claimAll = async (memberId: string) =>
      (await onA('POST', `/swarm/members/${memberId}/claims`, { max: TASKS })).body.subtasks as {
        task_id: string;
        subtask_id: string;
        lease_id: string;
      }[];
    const [of1, of2] = [await claimAll(m1.member_id), await claimAll(m2.member_id)];
    expect([of1.length, of2.length]).toEqual([TASKS, TASKS]);
    const vote = (call: Call, c: { subtask_id: string; lease_id: string }) =>
      call('POST', `/api/v1/subtasks/${c.subtask_id}/result`, { lease_id: c.lease_id, result: 'yes' });
    // m1 votes on every task first; then m2's last votes land all at once, spread over both instances.
    for (const c of of1) expect((await vote(onA, c)).status).toBe(200);
    const last = await Promise.all(of2.map((c, i) => vote(i % 2 ? onB : onA, c)));
    expect(last.map((r) => r.status)).toEqual(Array(TASKS).fill(200));
    for (const t of tasks) expect((await onA('GET', `/swarm/tasks/${t.task_id}/status`)).body.status).toBe('completed');
    // Each decision moves both members toward 1 by a fifth of the way: 0.5 → 1 − 0.5 × 0.8^TASKS. A lost update leaves less.
    const members = (await onA('GET', `/swarm/${m1.swarm_id}/members`)).body.members;
    expect(members).toHaveLength(2);
    for (const m of members) expect(m.reputation).toBeCloseTo(1 - 0.5 * 0.8 ** TASKS, 10);
  });

  it('a lease that expires is handed on once, though both instances sweep', async () => {
    const x = (await onA('POST', '/api/v1/agents', { name: 'sleepy' })).body;
    const y = (await onA('POST', '/api/v1/agents', { name: 'awake' })).body;
    const network = (await onA('POST', '/api/v1/agents/networks', { name: 'expiry', agents: [x.id, y.id], lease_seconds: 1 })).body;
    const e = (await onA('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { only: 1 } })).body;
    const claim = (await onA('POST', `/api/v1/agents/${x.id}/claim`, {})).body.subtask;
    expect(claim.subtask_id).toBe(e.subtasks[0].id);
    const moved = await eventually(async () => {
      const s = (await onB('GET', `/api/v1/agents/networks/${network.id}/executions/${e.id}`)).body.subtasks[0];
      return s.assignee_id === y.id && s.status === 'assigned' ? s : undefined;
    });
    expect(moved.attempts).toBe(1);
    await sleep(600); // both sweepers run again meanwhile
    const attempts = await a.server.db.run((tx) => tx.subtaskAttempt.findMany({ where: { subtaskId: claim.subtask_id } }));
    expect(attempts.map((t) => t.outcome)).toEqual(['expired']);
    const status = (await onA('GET', `/api/v1/agents/networks/${network.id}/status`)).body;
    expect(status.performance_metrics.agents.find((s: any) => s.name === 'sleepy')).toMatchObject({ expired: 1 });
  });

  it('executions whose last results arrive at both instances at once are each completed once, with their results', async () => {
    const agent = (await onA('POST', '/api/v1/agents', { name: 'halves' })).body;
    const network = (await onA('POST', '/api/v1/agents/networks', { name: 'halves', agents: [agent.id], claim_timeout_seconds: 3600 }))
      .body;
    const executions: string[] = [];
    for (let i = 0; i < 40; i++)
      executions.push(
        (await onA('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { items: [i, 1], chunk_size: 1, reduce: 'sum' } })).body
          .id,
      );
    const claimed = (await onA('POST', `/api/v1/agents/${agent.id}/claims`, { max: 100 })).body.subtasks as any[];
    expect(claimed).toHaveLength(80);
    const half = (seq: number) => ({
      results: claimed
        .filter((s) => s.seq === seq)
        .map((s) => ({ subtask_id: s.subtask_id, lease_id: s.lease_id, result: s.payload.items[0] })),
    });
    // Each execution's first subtask through A and its second through B, at once: both instances check them.
    const [ra, rb] = await Promise.all([
      onA('POST', '/api/v1/subtasks/results', half(0)),
      onB('POST', '/api/v1/subtasks/results', half(1)),
    ]);
    expect([ra.body.recorded, rb.body.recorded]).toEqual([40, 40]);
    for (const [i, id] of executions.entries()) {
      const view = await eventually(async () => {
        const v = (await onB('GET', `/api/v1/agents/networks/${network.id}/executions/${id}`)).body;
        return v.status === 'completed' ? v : undefined;
      });
      expect(view.results.reduced).toBe(i + 1);
    }
    const status = (await onA('GET', `/api/v1/agents/networks/${network.id}/status`)).body;
    expect(status).toMatchObject({ active_tasks: 0, total_executions: 40 });
    expect(await recountAggregates(a.server.db)).toEqual([]);
  });

  it('work done through one instance is heard on the other (LISTEN/NOTIFY)', async () => {
    const heard: ServerEvent[] = [];
    const stop = b.events.subscribe((event) => heard.push(event));
    try {
      const agent = (await onA('POST', '/api/v1/agents', { name: 'announcer' })).body;
      const network = (await onA('POST', '/api/v1/agents/networks', { name: 'announced', agents: [agent.id] })).body;
      const e = (await onA('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { hello: 1 } })).body;
      const event = await eventually(async () => heard.find((h) => h.kind === 'work.changed' && h.execution_id === e.id), 2000);
      expect(event).toMatchObject({ owner_id: 'alice', network_id: network.id });
    } finally {
      stop();
    }
  });
});

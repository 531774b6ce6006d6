// Concurrency: 1,000 joins at once, 100 executes at once on one network
// drained by racing workers, and members leaving while they and others
// claim. Afterwards: no duplicate ids, no orphaned leases, every subtask's
// result recorded exactly once, and every counter equal to the recounted
// truth (checkInvariants reads the tables themselves).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { checkInvariants } from './support/db-state.ts';
import { restClient } from './support/http.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { eventually, sleep } from './support/waiting.ts';

type Call = ReturnType<typeof restClient>;
const duplicates = (ids: string[]) => ids.length - new Set(ids).size;

describe.each(databaseKinds)('concurrency on %s', (kind) => {
  let srv: TestServer;
  let call: Call;
  const figures: string[] = [];

  beforeAll(async () => {
    srv = await startTestServer(kind);
    call = restClient(srv.url, await srv.keyFor('crowd'));
  });
  afterAll(async () => {
    console.log(`[concurrency ${kind}] ${figures.join('; ')}`);
    await srv?.close();
  });

  it('1,000 concurrent joins: 1,000 distinct members in one swarm, counted right', { timeout: 60_000 }, async () => {
    const join = { role: 'monitor', capability: 'thousand', suspect_after_seconds: 3600, fail_after_seconds: 3600 };
    const replies = await Promise.all(Array.from({ length: 1000 }, () => call('POST', '/swarm/join', join)));
    expect(replies.filter((r) => r.status !== 201).map((r) => `${r.status} ${JSON.stringify(r.body)}`)).toEqual([]);
    const memberIds = replies.map((r) => r.body.member_id as string);
    expect(duplicates(memberIds)).toBe(0);
    const swarms = new Set(replies.map((r) => r.body.swarm_id as string));
    expect(swarms.size).toBe(1);
    const [swarmId] = swarms;
    const listed = (await call('GET', `/swarm/${swarmId}/members`)).body;
    expect(listed.member_counts).toEqual({ active: 1000, suspect: 0, failed: 0, left: 0 });
    expect(new Set(listed.members.map((m: { member_id: string }) => m.member_id))).toEqual(new Set(memberIds));
    const rows = await srv.server.db.run((db) => db.swarmMember.findMany({ where: { swarmId }, select: { memberId: true } }));
    expect(rows.length).toBe(1000);
    expect(await checkInvariants(srv.server.db)).toEqual([]);
    figures.push(`1000 joins: ${duplicates(memberIds)} duplicate member ids`);
  });

  it('100 concurrent executes on one network, drained by racing workers: every subtask done once, counters equal the recount', {
    timeout: 60_000,
  }, async () => {
    const agents: string[] = [];
    for (let i = 0; i < 4; i++) agents.push((await call('POST', '/api/v1/agents', { name: `racer-${i}` })).body.id);
    const network = (
      await call('POST', '/api/v1/agents/networks', {
        name: 'busy',
        agents,
        lease_seconds: 120,
        claim_timeout_seconds: 3600,
        speculation: false,
      })
    ).body.id;
    const items = [1, 2, 3, 4, 5, 6, 7, 8];
    const executes = await Promise.all(
      Array.from({ length: 100 }, () =>
        call('POST', `/api/v1/agents/networks/${network}/execute`, { task: { items, chunk_size: 2, reduce: 'sum' } }),
      ),
    );
    expect(executes.filter((r) => r.status !== 202).map((r) => `${r.status} ${JSON.stringify(r.body)}`)).toEqual([]);
    const executionIds = executes.map((r) => r.body.id as string);
    const subtaskIds = executes.flatMap((r) => r.body.subtasks.map((s: { id: string }) => s.id));
    expect(duplicates(executionIds)).toBe(0);
    expect(subtaskIds.length).toBe(400);
    expect(duplicates(subtaskIds)).toBe(0);

    // Three racing workers per agent: every claim must hand out a different subtask (no backup copies: the network
    // above has speculation off, so each subtask is claimed by exactly one of them).
    const claims: { subtask: string; lease: string }[] = [];
    const worker = async (agent: string) => {
      for (;;) {
        const r = await call('POST', `/api/v1/agents/${agent}/claim`, {});
        expect(r.status).toBe(200);
        const s = r.body.subtask;
        if (!s) return;
        claims.push({ subtask: s.subtask_id, lease: s.lease_id });
        const doubled = s.payload.items.reduce((sum: number, x: number) => sum + 2 * x, 0);
        const posted = await call('POST', `/api/v1/subtasks/${s.subtask_id}/result`, { lease_id: s.lease_id, result: doubled });
        expect(posted.status, JSON.stringify(posted.body)).toBe(200);
      }
    };
    await Promise.all(agents.flatMap((a) => [worker(a), worker(a), worker(a)]));
    expect(claims.length).toBe(400);
    expect(duplicates(claims.map((c) => c.subtask))).toBe(0);
    expect(duplicates(claims.map((c) => c.lease))).toBe(0);

    const list = (await call('GET', `/api/v1/agents/networks/${network}/executions?limit=500&status=completed`)).body;
    expect(list.total_count).toBe(100);
    for (const id of executionIds.slice(0, 10)) {
      const e = (await call('GET', `/api/v1/agents/networks/${network}/executions/${id}`)).body;
      expect(e.results).toMatchObject({ reduced: 72, subtask_results: [6, 14, 22, 30] });
    }
    const status = (await call('GET', `/api/v1/agents/networks/${network}/status`)).body;
    expect(status).toMatchObject({ active_tasks: 0, total_executions: 100 });
    expect(await checkInvariants(srv.server.db)).toEqual([]);
    figures.push(
      `100 executes: ${duplicates(executionIds)} duplicate execution ids, ${duplicates(subtaskIds)} duplicate subtask ids, ${duplicates(claims.map((c) => c.subtask))} subtasks claimed twice`,
    );
  });

  it('members leaving while claiming leave no orphaned lease, and those who stay finish the work exactly once', {
    timeout: 60_000,
  }, async () => {
    const join = { role: 'monitor', capability: 'churn', suspect_after_seconds: 3600, fail_after_seconds: 3600 };
    const members: { member_id: string; swarm_id: string }[] = [];
    for (let i = 0; i < 10; i++) members.push((await call('POST', '/swarm/join', join)).body);
    const swarmId = members[0]!.swarm_id;
    const items = Array.from({ length: 40 }, (_, i) => i + 1);
    const task = await call('POST', '/swarm/coordinate', {
      swarm_id: swarmId,
      strategy: 'map-reduce',
      collaborators: 10,
      parameters: { capability: 'churn', items, chunk_size: 1, reduce: 'sum', lease_seconds: 120 },
    });
    expect(task.status, JSON.stringify(task.body)).toBe(202);
    const [leavers, stayers] = [members.slice(0, 5), members.slice(5)];

    const recorded: string[] = [];
    // A failed expectation stops every loop, so the server can close.
    let failed = false;
    const work = async (memberId: string, rounds: number) => {
      for (let i = 0; i < rounds && !failed; i++) {
        const r = await call('POST', `/swarm/members/${memberId}/claim`, {});
        if (r.status !== 200) return r.status; // left: 409
        const s = r.body.subtask;
        if (!s) return 200;
        const posted = await call('POST', `/api/v1/subtasks/${s.subtask_id}/result`, {
          lease_id: s.lease_id,
          result: s.payload.items[0] * 2,
        });
        if (posted.status === 200) recorded.push(s.subtask_id);
        else if (posted.status !== 409) {
          failed = true;
          expect(posted.status, `a result posted while members leave: ${JSON.stringify(posted.body)}`).toBe(409);
        }
      }
      return 200;
    };
    // Leavers claim and leave at the same moment; stayers work throughout.
    await Promise.all([
      ...leavers.map((m) => work(m.member_id, 3)),
      ...leavers.map((m) => sleep(5).then(() => call('POST', '/swarm/leave', { swarm_id: swarmId, member_id: m.member_id }))),
      ...stayers.map((m) => work(m.member_id, 2)),
    ]);
    // Whatever the leavers held went on to the stayers, who finish it.
    for (let round = 0; round < 20; round++) {
      await Promise.all(stayers.map((m) => work(m.member_id, 100)));
      if ((await call('GET', `/swarm/tasks/${task.body.task_id}/status`)).body.status !== 'running') break;
    }
    const done = (await call('GET', `/swarm/tasks/${task.body.task_id}/status`)).body;
    expect(done.status, JSON.stringify(done).slice(0, 600)).toBe('completed');
    expect(done.result).toMatchObject({ reduced: items.reduce((s, x) => s + 2 * x, 0) });
    expect(done.result.subtask_results).toEqual(items.map((x) => 2 * x));
    expect(duplicates(recorded)).toBe(0);
    const left = (await call('GET', `/swarm/${swarmId}/members`)).body.members.filter((m: { status: string }) => m.status === 'left');
    expect(left.length).toBe(5);
    const held = await srv.server.db.run((db) =>
      db.subtask.count({ where: { assigneeId: { in: leavers.map((m) => m.member_id) }, status: { in: ['assigned', 'leased'] } } }),
    );
    expect(held).toBe(0);
    expect(await checkInvariants(srv.server.db)).toEqual([]);
    figures.push(`leave-while-claiming: ${held} orphaned leases, ${duplicates(recorded)} results recorded twice`);
  });
  it('a lease handed back because its member left does not use up the subtask’s attempts', async () => {
    const join = { role: 'monitor', capability: 'handback', suspect_after_seconds: 3600, fail_after_seconds: 3600 };
    const [first, second] = [(await call('POST', '/swarm/join', join)).body, (await call('POST', '/swarm/join', join)).body];
    const task = await call('POST', '/swarm/coordinate', {
      swarm_id: first.swarm_id,
      strategy: 'map-reduce',
      collaborators: 2,
      parameters: { capability: 'handback', items: [21], chunk_size: 1, reduce: 'sum', max_attempts: 1, lease_seconds: 120 },
    });
    expect(task.status, JSON.stringify(task.body)).toBe(202);
    // Whoever holds the one subtask claims it (its only attempt) and leaves: the subtask moves on, it does not fail.
    let holder = first;
    let claim = await call('POST', `/swarm/members/${first.member_id}/claim`, {});
    if (!claim.body.subtask) {
      holder = second;
      claim = await call('POST', `/swarm/members/${second.member_id}/claim`, {});
    }
    expect(claim.body.subtask?.attempt).toBe(1);
    expect((await call('POST', '/swarm/leave', { swarm_id: first.swarm_id, member_id: holder.member_id })).status).toBe(200);
    const other = holder === first ? second : first;
    const next = (await call('POST', `/swarm/members/${other.member_id}/claim`, {})).body.subtask;
    expect(next?.subtask_id).toBe(claim.body.subtask.subtask_id);
    expect((await call('POST', `/api/v1/subtasks/${next.subtask_id}/result`, { lease_id: next.lease_id, result: 42 })).status).toBe(200);
    const done = await eventually(async () => {
      const status = (await call('GET', `/swarm/tasks/${task.body.task_id}/status`)).body;
      return status.status === 'running' ? null : status;
    });
    expect(done.status, JSON.stringify(done).slice(0, 400)).toBe('completed');
    expect(done.result).toMatchObject({ reduced: 42 });
  });

  it('a lease handed back earlier does not count when a later attempt fails', async () => {
    const join = { role: 'monitor', capability: 'handback-then-fail', suspect_after_seconds: 3600, fail_after_seconds: 3600 };
    const members = [(await call('POST', '/swarm/join', join)).body];
    for (let i = 0; i < 2; i++) members.push((await call('POST', '/swarm/join', { ...join, swarm_id: members[0].swarm_id })).body);
    const task = await call('POST', '/swarm/coordinate', {
      swarm_id: members[0].swarm_id,
      strategy: 'map-reduce',
      collaborators: 3,
      parameters: {
        capability: 'handback-then-fail',
        items: [21],
        chunk_size: 1,
        reduce: 'sum',
        max_attempts: 2,
        retry_base_seconds: 0,
        lease_seconds: 120,
      },
    });
    expect(task.status, JSON.stringify(task.body)).toBe(202);
    /** The one subtask, claimed by whichever of `among` gets it. */
    const claimAmong = async (among: typeof members) => {
      for (const m of among) {
        const s = (await call('POST', `/swarm/members/${m.member_id}/claim`, {})).body.subtask;
        if (s) return { member: m, subtask: s };
      }
      return null;
    };
    // Attempt 1: its holder leaves (given back). Attempt 2: it fails. One attempt of two is used: it runs again.
    const first = (await eventually(() => claimAmong(members)))!;
    expect((await call('POST', '/swarm/leave', { swarm_id: members[0].swarm_id, member_id: first.member.member_id })).status).toBe(200);
    const staying = members.filter((m) => m !== first.member);
    const second = (await eventually(() => claimAmong(staying)))!;
    expect(second.subtask.subtask_id).toBe(first.subtask.subtask_id);
    const failed = await call('POST', `/api/v1/subtasks/${second.subtask.subtask_id}/fail`, {
      lease_id: second.subtask.lease_id,
      error: 'exit 1',
    });
    expect(failed.status, JSON.stringify(failed.body)).toBe(200);
    const third = (await eventually(() => claimAmong(staying)))!;
    expect(third.subtask.subtask_id).toBe(first.subtask.subtask_id);
    expect(
      (await call('POST', `/api/v1/subtasks/${third.subtask.subtask_id}/result`, { lease_id: third.subtask.lease_id, result: 42 })).status,
    ).toBe(200);
    const done = await eventually(async () => {
      const status = (await call('GET', `/swarm/tasks/${task.body.task_id}/status`)).body;
      return status.status === 'running' ? null : status;
    });
    expect(done.status, JSON.stringify(done).slice(0, 400)).toBe('completed');
  });

  it('tasks coordinated while their members leave: no work is left assigned to a member that left', { timeout: 120_000 }, async () => {
    // Each round: three members, then a coordinate naming their swarm and the swarm's leave at the same moment. Either the
    // leave comes first (the coordinate finds too few members: 409) or the coordinate does (the leave hands its work on).
    const join = { role: 'monitor', suspect_after_seconds: 3600, fail_after_seconds: 3600 };
    let orders = { coordinatedFirst: 0, leftFirst: 0 };
    for (let round = 0; round < 30; round++) {
      const capability = `leaving-${round}`;
      const first = (await call('POST', '/swarm/join', { ...join, capability })).body;
      for (let i = 0; i < 2; i++) await call('POST', '/swarm/join', { ...join, capability, swarm_id: first.swarm_id });
      const [coordinated, left] = await Promise.all([
        call('POST', '/swarm/coordinate', {
          swarm_id: first.swarm_id,
          strategy: 'broadcast',
          collaborators: 3,
          parameters: { capability, payload: { round } },
        }),
        call('POST', `/swarm/${first.swarm_id}/leave`),
      ]);
      expect(left.status, JSON.stringify(left.body)).toBe(200);
      expect([202, 409], JSON.stringify(coordinated.body)).toContain(coordinated.status);
      orders =
        coordinated.status === 202
          ? { ...orders, coordinatedFirst: orders.coordinatedFirst + 1 }
          : { ...orders, leftFirst: orders.leftFirst + 1 };
    }
    expect(await checkInvariants(srv.server.db)).toEqual([]);
    figures.push(`coordinate-while-leaving: ${orders.coordinatedFirst} coordinated first, ${orders.leftFirst} left first`);
  });
});

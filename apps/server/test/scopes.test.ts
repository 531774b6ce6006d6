// Least privilege on one owner's own records: what each key scope may call
// (every procedure of the router × every scope), what a worker key naming
// agents and members may touch, expiry, rotation, the audit log and
// last_used_at. isolation.test.ts is the other axis: every scope presenting
// another owner's ids.
import { type KeyScope, scopeAllows } from '@aitbc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { diffSnapshots, snapshot } from './support/db-state.ts';
import { type Reply, restClient } from './support/http.ts';
import { callRest, callTrpc, errorCode, listProcedures } from './support/procedures.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const procedures = listProcedures();

/** The status and code of a refusal; a subscription (server-sent events) carries them in its error event. */
function answer(reply: Reply): [number, string | undefined] {
  const text = typeof reply.body === 'string' ? reply.body : '';
  const streamed = text.startsWith('event:') ? /"code":"([A-Z_]+)","httpStatus":(\d+)/.exec(text) : null;
  return streamed ? [Number(streamed[2]), streamed[1]] : [reply.status, errorCode(reply)];
}

describe.each(databaseKinds)('key scopes on %s', (kind) => {
  let srv: TestServer;
  /** The database at rest: buffered member heartbeats are written first, so none lands between two snapshots. */
  const settled = async () => {
    await srv.server.heartbeats.flush({ all: true });
    return snapshot(srv.server.db);
  };
  let ownerKey: string;
  let alice: ReturnType<typeof restClient>;
  let agents: { id: string; name: string }[];
  let members: string[];
  let swarmId: string;
  let networkId: string;

  async function ok<T = any>(r: Promise<Reply<T>>): Promise<T> {
    const reply = await r;
    expect([200, 201, 202], JSON.stringify(reply.body)).toContain(reply.status);
    return reply.body;
  }

  beforeAll(async () => {
    srv = await startTestServer(kind, { config: { keyUsageFlushMs: 50 } });
    ownerKey = await srv.keyFor('alice');
    alice = restClient(srv.url, ownerKey);
    agents = [];
    for (const name of ['gpu-1', 'gpu-2']) agents.push(await ok(alice('POST', '/api/v1/agents', { name })));
    const network = await ok(
      alice('POST', '/api/v1/agents/networks', {
        name: 'scoped',
        agents: agents.map((a) => a.id),
        lease_seconds: 3600,
        claim_timeout_seconds: 86_400,
        work_stealing: false,
        // A failure moves its subtask on at once, not after a backoff the sweep would act on mid-test.
        retry_base_seconds: 0,
      }),
    );
    networkId = network.id;
    const join = { role: 'monitor', capability: 'scoped', suspect_after_seconds: 86_400, fail_after_seconds: 86_400 };
    const first = await ok(alice('POST', '/swarm/join', join));
    const second = await ok(alice('POST', '/swarm/join', { ...join, swarm_id: first.swarm_id }));
    swarmId = first.swarm_id;
    members = [first.member_id, second.member_id];
  });
  afterAll(() => srv?.close());

  const keyOf = (scope: KeyScope, extra: Record<string, unknown> = {}) =>
    scope === 'admin'
      ? Promise.resolve(srv.adminKey)
      : srv.keyFor('alice', { scope, ...(scope === 'worker' ? { agents: 'all', members: 'all' } : {}), ...extra });

  it.each(['worker', 'read', 'owner', 'admin'] as const)(
    'a %s key is refused (403, nothing changes) on every procedure its scope does not reach, and let through on the rest',
    async (scope) => {
      const key = await keyOf(scope);
      const call = async (proc: (typeof procedures)[number]) => {
        // Empty input: the scope is checked before the input, so a refusal cannot depend on it; let through, it is a 400 (or a key.create).
        const replies = [await callTrpc(srv.url, key, proc, {})];
        if (proc.rest) replies.push(await callRest(srv.url, key, proc, {}));
        return replies.map((reply) => ({
          reply,
          where: `${scope} ${proc.path} (needs ${proc.scope}) → ${reply.status} ${JSON.stringify(reply.body)}`,
        }));
      };
      const before = await settled();
      let refused = 0;
      for (const proc of procedures.filter((p) => !scopeAllows(scope, p.scope))) {
        for (const { reply, where } of await call(proc)) {
          expect(answer(reply), where).toEqual([403, 'FORBIDDEN']);
          expect(JSON.stringify(reply.body), where).toContain(`the key presented is ${scope === 'owner' ? 'an' : 'a'} ${scope} key`);
          refused++;
        }
      }
      expect(diffSnapshots(before, await snapshot(srv.server.db))).toEqual([]);
      // A subscription let through would stream: only refusals are checked for those.
      for (const proc of procedures.filter((p) => scopeAllows(scope, p.scope) && p.type !== 'subscription')) {
        for (const { reply, where } of await call(proc)) expect([401, 403], where).not.toContain(reply.status);
      }
      console.log(`[scopes ${kind}] ${scope} key: ${procedures.length} procedures, ${refused} calls refused`);
      if (scope === 'worker') expect(refused).toBeGreaterThan(50);
    },
  );

  it('a worker key for one agent claims for it, never for another, and cannot touch the other’s leases', async () => {
    const [a, b] = agents as [{ id: string; name: string }, { id: string; name: string }];
    const execution = await ok(alice('POST', `/api/v1/agents/networks/${networkId}/execute`, { task: { items: [1, 2, 3, 4] } }));
    const worker = restClient(srv.url, await srv.keyFor('alice', { scope: 'worker', agents: [a.id], label: 'gpu-host-1' }));
    const me = await worker('GET', '/api/v1/whoami');
    expect(me.body).toMatchObject({ scope: 'worker', agents: [a.id], members: [], agent_names: { [a.id]: 'gpu-1' } });

    const foreign = await worker('POST', `/api/v1/agents/${b.id}/claim`, {});
    expect([foreign.status, foreign.body.message]).toEqual([403, `This worker key works only for agents ${a.id}; not for agent ${b.id}`]);
    const mine = (await ok(worker('POST', `/api/v1/agents/${a.id}/claim`, {}))).subtask;
    expect(mine.execution_id).toBe(execution.id);
    const theirs = (await ok(alice('POST', `/api/v1/agents/${b.id}/claim`, {}))).subtask;

    const before = await settled();
    const beat = await worker('POST', `/api/v1/subtasks/${theirs.subtask_id}/heartbeat`, { lease_id: theirs.lease_id });
    expect([beat.status, errorCode(beat)]).toEqual([404, 'NOT_FOUND']);
    const posted = await worker('POST', `/api/v1/subtasks/${theirs.subtask_id}/result`, { lease_id: theirs.lease_id, result: 'forged' });
    expect([posted.status, errorCode(posted)]).toEqual([404, 'NOT_FOUND']);
    const failed = await worker('POST', `/api/v1/subtasks/${theirs.subtask_id}/fail`, { lease_id: theirs.lease_id, error: 'x' });
    expect(failed.status).toBe(404);
    const beats = await ok(
      worker('POST', '/api/v1/subtasks/heartbeats', { leases: [{ subtask_id: theirs.subtask_id, lease_id: theirs.lease_id }] }),
    );
    expect(beats.leases).toMatchObject([{ held: false, refusal: 'NOT_FOUND' }]);
    expect(diffSnapshots(before, await snapshot(srv.server.db))).toEqual([]);

    // A batch answers each item: the other agent's is refused, its own is recorded.
    const batch = await ok(
      worker('POST', '/api/v1/subtasks/results', {
        results: [
          { subtask_id: theirs.subtask_id, lease_id: theirs.lease_id, result: 'forged' },
          { subtask_id: mine.subtask_id, lease_id: mine.lease_id, result: 'mine' },
        ],
      }),
    );
    expect(batch).toMatchObject({
      recorded: 1,
      refused: 1,
      results: [
        { status: 'refused', refusal: 'NOT_FOUND' },
        { status: 'recorded', refusal: null },
      ],
    });
    const rows = await srv.server.db.run((db) => db.subtask.findMany({ where: { id: { in: [mine.subtask_id, theirs.subtask_id] } } }));
    expect(Object.fromEntries(rows.map((r) => [r.id, r.status]))).toEqual({
      [mine.subtask_id]: 'completed',
      [theirs.subtask_id]: 'leased',
    });
    // The owner's key still can finish the other agent's subtask.
    await ok(alice('POST', `/api/v1/subtasks/${theirs.subtask_id}/result`, { lease_id: theirs.lease_id, result: 'theirs' }));
  });

  it('a worker key is told nothing of another agent’s lease once it has ended: NOT_FOUND, not its state', async () => {
    const [a, b] = agents as [{ id: string; name: string }, { id: string; name: string }];
    const worker = restClient(srv.url, await srv.keyFor('alice', { scope: 'worker', agents: [a.id] }));
    const execution = await ok(
      alice('POST', `/api/v1/agents/networks/${networkId}/execute`, { task: { items: [1, 2, 3, 4, 5, 6, 7, 8], chunk_size: 1 } }),
    );
    const claimed = (await ok(alice('POST', `/api/v1/agents/${b.id}/claims`, { max: 10 }))).subtasks.filter(
      (x: { execution_id: string }) => x.execution_id === execution.id,
    );
    expect(claimed.length).toBeGreaterThanOrEqual(2);
    const [failed, cancelled] = claimed as { subtask_id: string; lease_id: string }[];
    const mine = (await ok(alice('POST', `/api/v1/agents/${a.id}/claims`, { max: 10 }))).subtasks[0];
    // b's first lease ends by its failure (handed on), the rest with the execution's cancel.
    await ok(alice('POST', `/api/v1/subtasks/${failed!.subtask_id}/fail`, { lease_id: failed!.lease_id, error: 'gpu fault' }));
    await ok(alice('POST', `/api/v1/agents/networks/${networkId}/executions/${execution.id}/cancel`, {}));
    for (const { subtask_id, lease_id } of [failed!, cancelled!]) {
      const lease = { subtask_id, lease_id };
      const calls = [
        worker('POST', `/api/v1/subtasks/${lease.subtask_id}/heartbeat`, { lease_id: lease.lease_id }),
        worker('POST', `/api/v1/subtasks/${lease.subtask_id}/result`, { lease_id: lease.lease_id, result: 'forged' }),
        worker('POST', `/api/v1/subtasks/${lease.subtask_id}/fail`, { lease_id: lease.lease_id, error: 'x' }),
      ];
      for (const reply of await Promise.all(calls))
        expect([reply.status, errorCode(reply)], JSON.stringify(reply.body)).toEqual([404, 'NOT_FOUND']);
      const batch = await ok(worker('POST', '/api/v1/subtasks/results', { results: [{ ...lease, result: 'forged' }] }));
      expect(batch.results).toMatchObject([{ status: 'refused', refusal: 'NOT_FOUND' }]);
      const beats = await ok(worker('POST', '/api/v1/subtasks/heartbeats', { leases: [lease] }));
      expect(beats.leases).toMatchObject([{ held: false, refusal: 'NOT_FOUND' }]);
    }
    // A lease id never given on that subtask: the same.
    const made = await worker('POST', `/api/v1/subtasks/${mine.subtask_id}/heartbeat`, { lease_id: failed!.lease_id });
    expect(made.status).toBe(404);
    // Its own agent's ended lease is told as it is.
    const own = await worker('POST', `/api/v1/subtasks/${mine.subtask_id}/heartbeat`, { lease_id: mine.lease_id });
    expect([own.status, errorCode(own)]).toEqual([409, 'CONFLICT']);
    expect(own.body.message).toMatch(/cancelled/);
  });

  it('a worker key marks its own agent offline and online, and changes nothing else: no other field, no other agent', async () => {
    const [a, b] = agents as [{ id: string; name: string }, { id: string; name: string }];
    const worker = restClient(srv.url, await srv.keyFor('alice', { scope: 'worker', agents: [a.id] }));
    const row = (id: string) => srv.server.db.run((db) => db.agent.findUniqueOrThrow({ where: { id } }));

    const offline = await ok(worker('POST', `/api/v1/agents/${a.id}/presence`, { status: 'offline' }));
    expect(offline).toMatchObject({ agent_id: a.id, status: 'offline' });
    expect((await row(a.id)).status).toBe('offline');
    expect(await ok(worker('POST', `/api/v1/agents/${a.id}/presence`, { status: 'online' }))).toMatchObject({ status: 'online' });
    expect((await row(a.id)).status).toBe('online');

    const before = await settled();
    const other = await worker('POST', `/api/v1/agents/${b.id}/presence`, { status: 'offline' });
    expect([other.status, other.body.message]).toEqual([403, `This worker key works only for agents ${a.id}; not for agent ${b.id}`]);
    for (const body of [{ status: 'offline', name: 'renamed' }, { status: 'offline', capabilities: ['x'] }, { status: 'busy' }, {}]) {
      const r = await worker('POST', `/api/v1/agents/${a.id}/presence`, body);
      expect([r.status, errorCode(r)], JSON.stringify(body)).toEqual([400, 'BAD_REQUEST']);
    }
    // The owner's update stays the owner's.
    expect((await worker('PATCH', `/api/v1/agents/${a.id}`, { status: 'offline' })).status).toBe(403);
    expect(diffSnapshots(before, await snapshot(srv.server.db))).toEqual([]);
  });

  it('a worker key for one member heartbeats and claims for it only', async () => {
    const [m1, m2] = members as [string, string];
    const worker = restClient(srv.url, await srv.keyFor('alice', { scope: 'worker', members: [m1] }));
    expect((await worker('POST', `/swarm/members/${m1}/heartbeat`, {})).status).toBe(200);
    const other = await worker('POST', `/swarm/members/${m2}/heartbeat`, {});
    expect([other.status, errorCode(other)]).toEqual([403, 'FORBIDDEN']);
    expect((await worker('POST', `/swarm/members/${m2}/claim`, {})).status).toBe(403);
    expect((await worker('POST', `/swarm/members/${m1}/claim`, {})).status).toBe(200);
    const many = await ok(worker('POST', '/swarm/heartbeats', { member_ids: [m1, m2] }));
    expect(many).toMatchObject({ accepted: 1, refused: [{ member_id: m2, code: 'NOT_FOUND' }] });
    // Neither read nor leave: the member stays in its swarm.
    expect((await worker('GET', `/swarm/${swarmId}/members`)).status).toBe(403);
    expect((await worker('POST', '/swarm/leave', { swarm_id: swarmId, member_id: m1 })).status).toBe(403);
  });

  // What each list a worker key names reaches: a list it was not given is empty, "all" is asked for explicitly.
  it.each([
    { named: 'agents only', lists: { agents: ['a1'] }, reach: { a1: true, a2: false, m1: false, m2: false } },
    { named: 'members only', lists: { members: ['m1'] }, reach: { a1: false, a2: false, m1: true, m2: false } },
    { named: 'both', lists: { agents: ['a1'], members: ['m1'] }, reach: { a1: true, a2: false, m1: true, m2: false } },
    { named: 'all agents', lists: { agents: 'all' }, reach: { a1: true, a2: true, m1: false, m2: false } },
    { named: 'all members', lists: { members: 'all' }, reach: { a1: false, a2: false, m1: true, m2: true } },
    { named: 'all of both', lists: { agents: 'all', members: 'all' }, reach: { a1: true, a2: true, m1: true, m2: true } },
  ])('a worker key naming $named acts for exactly what it names', async ({ lists, reach }) => {
    const ids: Record<string, string> = { a1: agents[0]!.id, a2: agents[1]!.id, m1: members[0]!, m2: members[1]! };
    const resolve = (list: string[] | string | undefined) => (Array.isArray(list) ? list.map((n) => ids[n]!) : list);
    const worker = restClient(
      srv.url,
      await srv.keyFor('alice', {
        scope: 'worker',
        ...('agents' in lists ? { agents: resolve(lists.agents) } : {}),
        ...('members' in lists ? { members: resolve(lists.members) } : {}),
      }),
    );
    const me = (await worker('GET', '/api/v1/whoami')).body;
    expect([me.agents, me.members]).toEqual([
      lists.agents === 'all' ? null : (resolve(lists.agents) ?? []),
      lists.members === 'all' ? null : (resolve(lists.members) ?? []),
    ]);
    for (const [name, allowed] of Object.entries(reach)) {
      const id = ids[name]!;
      const calls = name.startsWith('a')
        ? [worker('POST', `/api/v1/agents/${id}/claims`, { max: 1 })]
        : [
            worker('POST', `/swarm/members/${id}/heartbeat`, {}),
            worker('POST', `/swarm/members/${id}/claims`, { max: 1 }),
            worker('POST', '/swarm/heartbeats', { member_ids: [id] }),
          ];
      for (const reply of await Promise.all(calls)) {
        const where = `${name} → ${reply.status} ${JSON.stringify(reply.body)}`;
        if (!allowed && reply.body?.refused) expect(reply.body, where).toMatchObject({ accepted: 0, refused: [{ member_id: id }] });
        else expect(reply.status, where).toBe(allowed ? 200 : 403);
      }
    }
  });

  it('a worker key naming only agents cannot post a member’s vote (NOT_FOUND, nothing recorded)', async () => {
    const [m1] = members as [string, string];
    const worker = restClient(srv.url, await srv.keyFor('alice', { scope: 'worker', agents: [agents[0]!.id] }));
    const task = await ok(
      alice('POST', '/swarm/coordinate', {
        swarm_id: swarmId,
        strategy: 'consensus',
        task_id: `forged-vote-${kind}`,
        collaborators: 2,
        parameters: { lease_seconds: 3600 },
      }),
    );
    const member = restClient(srv.url, ownerKey);
    const claim = (await ok(member('POST', `/swarm/members/${m1}/claims`, { max: 10 }))).subtasks.find(
      (s: { task_id: string }) => s.task_id === task.task_id,
    );
    expect(claim).toBeDefined();
    const before = await settled();
    const forged = await worker('POST', '/api/v1/subtasks/results', {
      results: [{ subtask_id: claim.subtask_id, lease_id: claim.lease_id, result: 'forged' }],
    });
    expect(forged.body).toMatchObject({ recorded: 0, refused: 1, results: [{ refusal: 'NOT_FOUND' }] });
    expect(diffSnapshots(before, await snapshot(srv.server.db))).toEqual([]);
    const votes = await srv.server.db.run((db) => db.swarmVote.count({ where: { memberId: m1 } }));
    expect(votes).toBe(0);
  });

  it('refuses a worker key that names nothing it works for, and "all" mixed with ids', async () => {
    const count = await srv.server.db.run((db) => db.apiKey.count({ where: { ownerId: 'alice' } }));
    const none = await alice('POST', '/api/v1/keys', { scope: 'worker' });
    expect([none.status, none.body.message]).toEqual([
      400,
      'Invalid input: agents: a worker key names what it works for: agents and/or members (ids, or "all" of its owner\'s); a list not named is none',
    ]);
    const empty = await alice('POST', '/api/v1/keys', { scope: 'worker', agents: [] });
    expect(empty.status).toBe(400);
    expect(await srv.server.db.run((db) => db.apiKey.count({ where: { ownerId: 'alice' } }))).toBe(count);
  });

  it('refuses to name another owner’s agents, or agents on a key that is not a worker key', async () => {
    const bobAgent = await ok(restClient(srv.url, await srv.keyFor('bob'))('POST', '/api/v1/agents', { name: 'bobs' }));
    const count = await srv.server.db.run((db) => db.apiKey.count({ where: { ownerId: 'alice', role: { not: 'owner' } } }));
    const r = await alice('POST', '/api/v1/keys', { scope: 'worker', agents: [bobAgent.id] });
    expect([r.status, r.body.message]).toEqual([404, `Agent ${bobAgent.id} not found`]);
    const notWorker = await alice('POST', '/api/v1/keys', { scope: 'read', agents: [agents[0]!.id] });
    expect([notWorker.status, notWorker.body.message]).toEqual([400, 'Invalid input: agents: only worker keys name agents and members']);
    const after = await srv.server.db.run((db) => db.apiKey.count({ where: { ownerId: 'alice', role: { not: 'owner' } } }));
    expect(after).toBe(count);
  });

  it('refuses an expired key everywhere, saying when it expired', async () => {
    const created = await ok(alice('POST', '/api/v1/keys', { expires_in_seconds: 1, label: 'short-lived' }));
    expect(new Date(created.expires_at).getTime() - new Date(created.created_at).getTime()).toBe(1000);
    expect((await restClient(srv.url, created.key)('GET', '/api/v1/whoami')).status).toBe(200);
    await sleep(1100);
    const before = await settled();
    for (const proc of procedures) {
      const replies = [await callTrpc(srv.url, created.key, proc, {})];
      if (proc.rest) replies.push(await callRest(srv.url, created.key, proc, {}));
      for (const reply of replies) {
        const where = `${proc.path} → ${reply.status} ${JSON.stringify(reply.body)}`;
        expect(answer(reply), where).toEqual([401, 'UNAUTHORIZED']);
        expect(JSON.stringify(reply.body), where).toContain(`API key expired at ${created.expires_at}`);
      }
    }
    expect(diffSnapshots(before, await snapshot(srv.server.db))).toEqual([]);
  });

  it('rotates a key: same scope, label and agents; the old key works through the grace period, then stops', async () => {
    const a = agents[0]!;
    const old = await ok(alice('POST', '/api/v1/keys', { scope: 'worker', agents: [a.id], label: 'gpu-host-7', expires_in_seconds: 3600 }));
    const rotated = await ok(alice('POST', `/api/v1/keys/${old.id}/rotate`, { grace_seconds: 1 }));
    expect(rotated.key).toMatchObject({ scope: 'worker', agents: [a.id], label: 'gpu-host-7', owner_id: 'alice', replaced_by: null });
    expect(rotated.key.key).not.toBe(old.key);
    // The replacement lives as long as the old key was given to.
    expect(new Date(rotated.key.expires_at).getTime() - new Date(rotated.key.created_at).getTime()).toBe(3_600_000);
    expect(rotated.previous).toMatchObject({ id: old.id, replaced_by: rotated.key.id });
    expect(new Date(rotated.previous.expires_at).getTime() - Date.now()).toBeLessThanOrEqual(1000);

    const oldKey = restClient(srv.url, old.key);
    expect((await oldKey('GET', '/api/v1/whoami')).status).toBe(200);
    expect((await restClient(srv.url, rotated.key.key)('GET', '/api/v1/whoami')).body).toMatchObject({ key_id: rotated.key.id });
    await sleep(1100);
    const gone = await oldKey('GET', '/api/v1/whoami');
    expect(gone.status).toBe(401);
    expect(gone.body.message).toContain(`(it was rotated; use its replacement, key ${rotated.key.id})`);

    const again = await alice('POST', `/api/v1/keys/${old.id}/rotate`, {});
    expect([again.status, again.body.message]).toEqual([
      409,
      `API key ${old.id} was already rotated; its replacement is key ${rotated.key.id}`,
    ]);

    // The default grace is 24 hours; 0 stops the old key at once.
    const next = await ok(alice('POST', `/api/v1/keys/${rotated.key.id}/rotate`, {}));
    expect(Math.round((new Date(next.previous.expires_at).getTime() - Date.now()) / 3_600_000)).toBe(1);
    const third = await ok(alice('POST', `/api/v1/keys/${next.key.id}/rotate`, { grace_seconds: 0 }));
    expect((await restClient(srv.url, next.key.key)('GET', '/api/v1/whoami')).status).toBe(401);
    expect((await restClient(srv.url, third.key.key)('GET', '/api/v1/whoami')).status).toBe(200);
  });

  it('records who removed, cancelled, left or changed a key, when and from where; a refused change records nothing', async () => {
    const requestIds = new Map<string, string>();
    const change = async (action: string, r: Promise<Reply>) => {
      const reply = await r;
      expect([200, 201, 202], `${action}: ${JSON.stringify(reply.body)}`).toContain(reply.status);
      requestIds.set(action, reply.headers.get('x-request-id')!);
      return reply.body;
    };
    const agent = await ok(alice('POST', '/api/v1/agents', { name: 'short' }));
    const network = await ok(alice('POST', '/api/v1/agents/networks', { name: 'audited', agents: [agent.id] }));
    const execution = await ok(alice('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { x: 1 } }));
    const join = await ok(alice('POST', '/swarm/join', { role: 'monitor', capability: 'audit' }));
    await ok(alice('POST', '/swarm/join', { role: 'monitor', capability: 'audit', swarm_id: join.swarm_id }));
    const task = await ok(
      alice('POST', '/swarm/coordinate', {
        task_id: 'audited-task',
        strategy: 'consensus',
        collaborators: 2,
        parameters: { capability: 'audit' },
      }),
    );

    const key = await change('key.create', alice('POST', '/api/v1/keys', { scope: 'read', label: 'audited' }));
    await change('key.rotate', alice('POST', `/api/v1/keys/${key.id}/rotate`, { grace_seconds: 60 }));
    await change('key.revoke', alice('DELETE', `/api/v1/keys/${key.id}`));
    await change('execution.cancel', alice('POST', `/api/v1/agents/networks/${network.id}/executions/${execution.id}/cancel`));
    await change('network.archive', alice('DELETE', `/api/v1/agents/networks/${network.id}`));
    await change('agent.remove', alice('DELETE', `/api/v1/agents/${agent.id}`));
    await change('task.cancel', alice('POST', `/swarm/tasks/${task.task_id}/cancel`));
    await change('swarm.leave', alice('POST', '/swarm/leave', { swarm_id: join.swarm_id, member_id: join.member_id }));
    // Refused changes leave no entry.
    expect((await alice('DELETE', `/api/v1/keys/${key.id}`)).status).toBe(409);
    expect((await alice('DELETE', `/api/v1/agents/networks/${network.id}`)).status).toBe(409);

    const targets: Record<string, string> = {
      'key.create': key.id,
      'key.rotate': key.id,
      'key.revoke': key.id,
      'execution.cancel': execution.id,
      'network.archive': network.id,
      'agent.remove': agent.id,
      'task.cancel': task.task_id,
      'swarm.leave': join.member_id,
    };
    const me = (await alice('GET', '/api/v1/whoami')).body;
    const listed = await ok(alice('GET', `/api/v1/audit?limit=500`));
    for (const [action, target] of Object.entries(targets)) {
      const entries = listed.entries.filter((e: any) => e.action === action && e.target_id === target);
      expect(entries, action).toHaveLength(1);
      expect(entries[0], action).toMatchObject({
        owner_id: 'alice',
        actor_owner_id: 'alice',
        actor_key_id: me.key_id,
        ip: '127.0.0.1',
        request_id: requestIds.get(action),
      });
    }
    // Newest first, paged, filtered.
    const page = await ok(alice('GET', '/api/v1/audit?limit=2'));
    expect(page.entries.map((e: any) => e.action)).toEqual(['swarm.leave', 'task.cancel']);
    const rest = await ok(alice('GET', `/api/v1/audit?limit=2&cursor=${encodeURIComponent(page.next_cursor)}`));
    expect(rest.entries.map((e: any) => e.action)).toEqual(['agent.remove', 'network.archive']);
    expect((await ok(alice('GET', `/api/v1/audit?target_id=${key.id}`))).entries.map((e: any) => e.action)).toEqual([
      'key.revoke',
      'key.rotate',
      'key.create',
    ]);
    // Admins see everyone's (or one owner's); another owner sees none of alice's.
    const admin = await ok(restClient(srv.url, srv.adminKey)('GET', '/api/v1/audit?owner_id=alice&action=network.archive'));
    expect(admin.entries.map((e: any) => e.target_id)).toContain(network.id);
    const bob = await ok(restClient(srv.url, await srv.keyFor('bob'))('GET', '/api/v1/audit'));
    expect(JSON.stringify(bob.entries)).not.toContain('alice');
  });

  it('writes an audit entry in the transaction of its change: when the entry cannot be written, the change does not happen', async () => {
    const network = await ok(alice('POST', '/api/v1/agents/networks', { name: 'unaudited', agents: [agents[0]!.id] }));
    const { db } = srv.server;
    const statements =
      kind === 'sqlite'
        ? [`CREATE TRIGGER "audit_refused" BEFORE INSERT ON "audit_events" BEGIN SELECT RAISE(ABORT, 'audit refused'); END`]
        : [
            `CREATE FUNCTION audit_refused() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$ LANGUAGE plpgsql`,
            `CREATE TRIGGER "audit_refused" BEFORE INSERT ON "audit_events" FOR EACH ROW EXECUTE FUNCTION audit_refused()`,
          ];
    for (const s of statements) await db.run((tx) => tx.$executeRawUnsafe(s));
    try {
      const r = await alice('DELETE', `/api/v1/agents/networks/${network.id}`);
      expect(r.status).toBe(500);
    } finally {
      await db.run((tx) => tx.$executeRawUnsafe(`DROP TRIGGER "audit_refused"${kind === 'sqlite' ? '' : ' ON "audit_events"'}`));
      if (kind !== 'sqlite') await db.run((tx) => tx.$executeRawUnsafe('DROP FUNCTION audit_refused()'));
    }
    expect((await alice('GET', `/api/v1/agents/networks/${network.id}`)).body.status).not.toBe('archived');
    expect((await ok(alice('DELETE', `/api/v1/agents/networks/${network.id}`))).status).toBe('archived');
  });

  it('keeps last_used_at without a write per request', async () => {
    const created = await ok(alice('POST', '/api/v1/keys', { scope: 'read', label: 'usage' }));
    const lastUsed = async () => (await srv.server.db.run((db) => db.apiKey.findUniqueOrThrow({ where: { id: created.id } }))).lastUsedAt;
    expect(await lastUsed()).toBeNull();
    const reader = restClient(srv.url, created.key);
    for (let i = 0; i < 5; i++) expect((await reader('GET', '/api/v1/agents')).status).toBe(200);
    for (let i = 0; i < 50 && (await lastUsed()) === null; i++) await sleep(20);
    expect(await lastUsed()).not.toBeNull();
    // Once every request's use is flushed, later flushes write nothing for a key unused since.
    await sleep(200);
    const first = await lastUsed();
    await sleep(200);
    expect(await lastUsed()).toEqual(first);
    const listed = await ok(alice('GET', '/api/v1/keys'));
    expect(listed.keys.find((k: any) => k.id === created.id).last_used_at).toBe(first!.toISOString());

    // With the default interval (a minute), requests write nothing at all meanwhile.
    const quiet = await startTestServer(kind);
    try {
      const key = await ok(restClient(quiet.url, quiet.adminKey)('POST', '/api/v1/keys', { owner_id: 'carol' }));
      for (let i = 0; i < 20; i++) expect((await restClient(quiet.url, key.key)('GET', '/api/v1/agents')).status).toBe(200);
      const row = await quiet.server.db.run((db) => db.apiKey.findUniqueOrThrow({ where: { id: key.id } }));
      expect(row.lastUsedAt).toBeNull();
    } finally {
      await quiet.close();
    }
  });
});

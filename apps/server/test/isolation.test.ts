// Owner isolation, generated from the router: for every procedure, over tRPC
// and over its REST path, owner B presenting owner A's ids (each id the
// procedure takes, one at a time and all together) gets exactly what an id
// that does not exist gets (404, or 403 on admin routes), and the database
// does not change by a single row. A procedure added to the router without a
// case here, or an id parameter added to one without an attack on it, fails
// the coverage test.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROCEDURE_SCOPES, scopeAllows } from '@aitbc/core';
import { appRouter } from '../src/routers/index.ts';
import { databaseKinds } from './support/databases.ts';
import { diffSnapshots, snapshot } from './support/db-state.ts';
import { type Reply, restClient } from './support/http.ts';
import { callRest, callTrpc, errorCode, listProcedures, type ProcedureInfo } from './support/procedures.ts';
import { startTestServer, type TestServer } from './support/server.ts';

type Call = ReturnType<typeof restClient>;

/** The objects one owner has, one of each kind a procedure can take. */
interface World {
  agent: string;
  network: string;
  execution: string;
  subtask: string;
  lease: string;
  swarm: string;
  member: string;
  task: string;
  swarmSubtask: string;
  swarmLease: string;
  key: string;
}

type Expectation = { status: 404 | 403 } | { check: (data: any) => void };
interface Attack {
  input: Record<string, unknown>;
  expect?: Expectation;
}
interface Case {
  /** Calls carrying A's ids; default expectation 404. */
  attacks?: Attack[];
  /** Calls that take no id of A's: why, and what must hold (nothing of A's shows). */
  noObjectId?: { why: string; input: Record<string, unknown>; creates?: boolean; check: (data: any) => void };
}

/** Input fields that name an object (ids), read from each procedure's input schema. */
function idFields(path: string): string[] {
  const proc = (appRouter._def.procedures as unknown as Record<string, { _def: { inputs: { shape?: Record<string, unknown> }[] } }>)[path]!;
  const shape = proc._def.inputs[0]?.shape ?? {};
  return Object.keys(shape).filter((k) => /_ids?$/.test(k) || k === 'agents');
}

/** Fields of a procedure's input that are ids by name but are not references to an existing object. */
const NOT_REFERENCES: Record<string, string> = {
  'swarm.coordinate task_id': 'names the new task (unique per owner): B choosing A’s name creates B’s own task',
};

const data = (r: Reply) => (r.body as { result?: { data?: unknown } })?.result?.data ?? r.body;

function matrix(a: World, b: World): Record<string, Case> {
  const none = (ids: string[]) => (d: any) => expect(JSON.stringify(d)).not.toMatch(new RegExp(ids.join('|')));
  const admin = (input: Record<string, unknown>): Case => ({ attacks: [{ input, expect: { status: 403 } }] });
  const lease = (extra: Record<string, unknown>) => [
    { input: { subtask_id: a.subtask, lease_id: a.lease, ...extra } },
    { input: { subtask_id: a.swarmSubtask, lease_id: a.swarmLease, ...extra } },
    { input: { subtask_id: a.subtask, lease_id: b.lease, ...extra } },
  ];
  const byTask = (extra: Record<string, unknown> = {}): Case => ({ attacks: [{ input: { task_id: a.task, ...extra } }] });
  const byNetwork = (extra: Record<string, unknown> = {}): Case => ({ attacks: [{ input: { network_id: a.network, ...extra } }] });
  const byExecution: Case = {
    attacks: [
      { input: { network_id: a.network, execution_id: a.execution } },
      { input: { network_id: b.network, execution_id: a.execution } },
    ],
  };
  return {
    'key.whoami': {
      noObjectId: {
        why: 'the caller’s own principal',
        input: {},
        check: (d) => expect(d).toMatchObject({ owner_id: 'bob' }),
      },
    },
    // Owner keys manage their own owner's keys: another owner's is 403 by name, 404 by id (as a missing one).
    'key.create': {
      attacks: [
        { input: { owner_id: 'alice' }, expect: { status: 403 } },
        { input: { scope: 'worker', agents: [a.agent] } },
        { input: { scope: 'worker', members: [a.member] } },
      ],
    },
    'key.list': admin({ owner_id: 'alice' }),
    'key.revoke': { attacks: [{ input: { key_id: a.key } }] },
    'key.rotate': { attacks: [{ input: { key_id: a.key } }] },
    'audit.list': {
      attacks: [
        { input: { owner_id: 'alice' }, expect: { status: 403 } },
        { input: { target_id: a.key }, expect: { check: (d) => expect(d).toMatchObject({ entries: [] }) } },
      ],
      noObjectId: { why: 'the caller’s own entries', input: {}, check: none([a.key, a.agent, a.network]) },
    },
    'network.create': { attacks: [{ input: { name: 'n', agents: [a.agent] } }, { input: { name: 'n', agents: [b.agent, a.agent] } }] },
    'network.list': { noObjectId: { why: 'lists the caller’s networks', input: {}, check: none([a.network]) } },
    'network.get': byNetwork(),
    'network.update': {
      attacks: [{ input: { network_id: a.network, name: 'stolen' } }, { input: { network_id: b.network, agents: [a.agent] } }],
    },
    'network.archive': byNetwork(),
    'network.status': byNetwork(),
    'network.optimize': byNetwork(),
    'network.optimizeFor': byNetwork({ objective: 'speed' }),
    'execution.execute': byNetwork({ task: { x: 1 } }),
    'execution.list': byNetwork(),
    'execution.get': byExecution,
    'execution.cancel': byExecution,
    'work.claim': { attacks: [{ input: { agent_id: a.agent } }] },
    'work.heartbeat': { attacks: lease({}) },
    'work.result': { attacks: lease({ result: 1 }) },
    'work.fail': { attacks: lease({ error: 'x' }) },
    'work.claims': { attacks: [{ input: { agent_id: a.agent, max: 5 } }] },
    // Batches answer each item: another owner's subtask is refused as NOT_FOUND, exactly as a missing one.
    'work.heartbeats': {
      attacks: lease({}).map(({ input }) => ({
        input: { leases: [input] },
        expect: { check: (d: any) => expect(d).toMatchObject({ leases: [{ held: false, refusal: 'NOT_FOUND' }] }) },
      })),
    },
    'work.results': {
      attacks: [...lease({ result: 1 }), ...lease({ error: 'x' })].map(({ input }) => ({
        input: { results: [input] },
        expect: {
          check: (d: any) => expect(d).toMatchObject({ recorded: 0, refused: 1, results: [{ status: 'refused', refusal: 'NOT_FOUND' }] }),
        },
      })),
    },
    'deadLetter.subtask': { attacks: [{ input: { subtask_id: a.subtask } }, { input: { subtask_id: a.swarmSubtask } }] },
    'deadLetter.list': {
      attacks: [
        { input: { network_id: a.network }, expect: { check: (d) => expect(d).toMatchObject({ dead_letters: [] }) } },
        { input: { execution_id: a.execution }, expect: { check: (d) => expect(d).toMatchObject({ dead_letters: [] }) } },
      ],
      noObjectId: { why: 'lists the caller’s dead letters', input: {}, check: none([a.subtask, a.execution]) },
    },
    // A redrive selects among the caller's own dead letters only: another owner's ids select nothing.
    'deadLetter.redrive': {
      attacks: [
        { input: { execution_id: a.execution }, expect: { check: (d) => expect(d).toEqual({ redriven: [], skipped: [] }) } },
        { input: { subtask_ids: [a.subtask] }, expect: { check: (d) => expect(d).toEqual({ redriven: [], skipped: [] }) } },
        { input: { network_id: a.network }, expect: { check: (d) => expect(d).toEqual({ redriven: [], skipped: [] }) } },
      ],
    },
    'swarm.join': { attacks: [{ input: { role: 'monitor', capability: 'iso', swarm_id: a.swarm } }] },
    'swarm.leave': {
      attacks: [
        { input: { swarm_id: a.swarm } },
        { input: { swarm_id: a.swarm, member_id: a.member } },
        { input: { swarm_id: b.swarm, member_id: a.member } },
      ],
    },
    'swarm.leaveSwarm': { attacks: [{ input: { swarm_id: a.swarm } }] },
    'swarm.heartbeat': { attacks: [{ input: { member_id: a.member } }] },
    'swarm.heartbeats': {
      attacks: [
        {
          input: { member_ids: [a.member] },
          expect: { check: (d) => expect(d).toMatchObject({ accepted: 0, refused: [{ member_id: a.member, code: 'NOT_FOUND' }] }) },
        },
      ],
    },
    'swarm.claim': { attacks: [{ input: { member_id: a.member } }] },
    'swarm.claims': { attacks: [{ input: { member_id: a.member, max: 5 } }] },
    'swarm.list': {
      attacks: [{ input: { swarm_id: a.swarm }, expect: { check: (d) => expect(d).toMatchObject({ swarms: [], total_count: 0 }) } }],
      noObjectId: { why: 'lists the caller’s swarms', input: {}, check: none([a.swarm, a.member]) },
    },
    'swarm.members': { attacks: [{ input: { swarm_id: a.swarm } }] },
    'swarm.status': {
      attacks: [{ input: { swarm_id: a.swarm } }],
      noObjectId: { why: 'the caller’s swarms', input: {}, check: none([a.swarm]) },
    },
    'swarm.coordinate': { attacks: [{ input: { swarm_id: a.swarm, strategy: 'consensus', parameters: { capability: 'iso' } } }] },
    'swarm.task': byTask(),
    'swarm.cancel': byTask(),
    'swarm.consensus': byTask(),
    'swarm.taskConsensus': byTask(),
    'agent.register': {
      noObjectId: {
        why: 'creates an agent of the caller’s (names are per owner: A’s name is free for B)',
        input: { name: 'a-agent-1' },
        creates: true,
        check: (d) => expect(d).toMatchObject({ owner_id: 'bob', name: 'a-agent-1' }),
      },
    },
    'agent.list': { noObjectId: { why: 'lists the caller’s agents', input: {}, check: none([a.agent]) } },
    'agent.get': { attacks: [{ input: { agent_id: a.agent } }] },
    'agent.update': { attacks: [{ input: { agent_id: a.agent, status: 'offline' } }] },
    'agent.presence': { attacks: [{ input: { agent_id: a.agent, status: 'offline' } }] },
    'agent.remove': { attacks: [{ input: { agent_id: a.agent } }] },
    'host.list': {
      noObjectId: { why: 'lists the caller’s hosts', input: { limit: 500 }, check: (d) => expect(d).toMatchObject({ hosts: [] }) },
    },
    'host.lift': { attacks: [{ input: { host_id: a.agent } }, { input: { host_id: a.member } }] },
    'live.changes': { noObjectId: { why: 'a stream of the caller’s own changes: tested on its own below', input: {}, check: () => {} } },
    'live.tasks': {
      attacks: [{ input: { swarm_id: a.swarm } }],
      noObjectId: { why: 'the caller’s tasks', input: {}, check: none([a.task, a.swarm]) },
    },
    'live.owners': admin({}),
    'history.throughput': { attacks: [{ input: { network_id: a.network } }, { input: { swarm_id: a.swarm } }] },
  };
}

/** Replace every occurrence of A's ids in `input` by ids that exist nowhere. */
function withMissingIds(input: Record<string, unknown>, a: World): { input: Record<string, unknown>; replaced: Map<string, string> } {
  const replaced = new Map<string, string>();
  const ids = new Set(Object.values(a));
  const swap = (v: unknown): unknown => {
    if (typeof v === 'string' && ids.has(v)) {
      if (!replaced.has(v)) replaced.set(v, `missing-${randomUUID()}`);
      return replaced.get(v);
    }
    return Array.isArray(v) ? v.map(swap) : v;
  };
  return { input: Object.fromEntries(Object.entries(input).map(([k, v]) => [k, swap(v)])), replaced };
}

/** Bob's keys, one per scope (admin keys reach every owner by design: auth.test.ts). */
const BOB_SCOPES = ['owner', 'read', 'worker', 'worker-named'] as const;
type BobScope = (typeof BOB_SCOPES)[number];

/** Work calls that name an agent or member outright: a worker key that names others refuses them before any lookup. */
const NAMES_WHO = new Set(['work.claim', 'work.claims', 'swarm.claim', 'swarm.claims', 'swarm.heartbeat', 'agent.presence']);

/** What B's key of `scope` gets for an attack whose owner-key answer is `expected`. */
function expectedFor(scope: BobScope, proc: ProcedureInfo, expected: Expectation): Expectation {
  if (!scopeAllows(scope === 'worker-named' ? 'worker' : scope, proc.scope)) return { status: 403 };
  if (scope === 'worker-named' && NAMES_WHO.has(proc.path)) return { status: 403 };
  return expected;
}

describe.each(databaseKinds)('owner and scope isolation on %s', (kind) => {
  let srv: TestServer;
  let alice: Call;
  let bob: Call;
  let aliceKey: string;
  let bobKey: string;
  const bobKeys = {} as Record<BobScope, string>;
  let a: World;
  let b: World;

  async function ok<T = any>(r: Promise<Reply<T>>, status = [200, 201, 202]): Promise<T> {
    const reply = await r;
    expect(status, JSON.stringify(reply.body)).toContain(reply.status);
    return reply.body;
  }

  /** One of each object for `owner`: agents with a network, an execution with a leased subtask, a swarm with a consensus task and a leased vote. */
  async function world(call: Call, owner: string): Promise<World> {
    const agent = await ok(call('POST', '/api/v1/agents', { name: `${owner}-agent-1`, capabilities: ['gpu'] }));
    const agent2 = await ok(call('POST', '/api/v1/agents', { name: `${owner}-agent-2`, capabilities: ['gpu'] }));
    // Long leases and timeouts: nothing moves by itself while the test runs.
    const network = await ok(
      call('POST', '/api/v1/agents/networks', {
        name: owner,
        agents: [agent.id, agent2.id],
        lease_seconds: 3600,
        claim_timeout_seconds: 86_400,
      }),
    );
    const execution = await ok(call('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { items: [1, 2, 3, 4] } }));
    const claimed = (await ok(call('POST', `/api/v1/agents/${agent.id}/claim`, { lease_seconds: 3600 }))).subtask;
    const join = { role: 'monitor', capability: 'iso', suspect_after_seconds: 86_400, fail_after_seconds: 86_400 };
    const member = await ok(call('POST', '/swarm/join', join));
    await ok(call('POST', '/swarm/join', { ...join, swarm_id: member.swarm_id }));
    const task = await ok(
      call('POST', '/swarm/coordinate', {
        task_id: `task-of-${owner}`,
        strategy: 'consensus',
        collaborators: 2,
        timeout_seconds: 86_400,
        parameters: { capability: 'iso', lease_seconds: 3600, payload: { q: owner } },
      }),
    );
    const vote = (await ok(call('POST', `/swarm/members/${member.member_id}/claim`, { lease_seconds: 3600 }))).subtask;
    const keys = await ok(restClient(srv.url, srv.adminKey)('GET', `/api/v1/keys?owner_id=${owner}`));
    return {
      agent: agent.id,
      network: network.id,
      execution: execution.id,
      subtask: claimed.subtask_id,
      lease: claimed.lease_id,
      swarm: member.swarm_id,
      member: member.member_id,
      task: task.task_id,
      swarmSubtask: vote.subtask_id,
      swarmLease: vote.lease_id,
      key: keys.keys[0].id,
    };
  }

  const procedures = listProcedures();
  const byPath = new Map(procedures.map((p) => [p.path, p]));

  /** B's call over both transports (REST when the procedure has a path), with B's owner key or the one given. */
  async function asBob(proc: ProcedureInfo, input: Record<string, unknown>, key = bobKey): Promise<{ transport: string; reply: Reply }[]> {
    const replies = [{ transport: 'trpc', reply: await callTrpc(srv.url, key, proc, input) }];
    if (proc.rest) replies.push({ transport: 'rest', reply: await callRest(srv.url, key, proc, input) });
    return replies;
  }

  beforeAll(async () => {
    srv = await startTestServer(kind);
    aliceKey = await srv.keyFor('alice');
    bobKey = await srv.keyFor('bob');
    alice = restClient(srv.url, aliceKey);
    bob = restClient(srv.url, bobKey);
    a = await world(alice, 'alice');
    b = await world(bob, 'bob');
    bobKeys.owner = bobKey;
    bobKeys.read = await srv.keyFor('bob', { scope: 'read' });
    bobKeys.worker = await srv.keyFor('bob', { scope: 'worker', agents: 'all', members: 'all' });
    bobKeys['worker-named'] = await srv.keyFor('bob', { scope: 'worker', agents: [b.agent], members: [b.member] });
  });
  afterAll(() => srv?.close());

  it('covers every procedure of the router, and every id parameter of each', () => {
    const cases = matrix(a, b);
    expect(Object.keys(cases).sort(), 'a procedure without an isolation case (add one to matrix())').toEqual(
      procedures.map((p) => p.path).sort(),
    );
    const aIds = new Set(Object.values(a));
    for (const proc of procedures) {
      expect(PROCEDURE_SCOPES, `${proc.path} declares no key scope`).toContain(proc.scope);
      const attacked = new Set(
        (cases[proc.path]!.attacks ?? []).flatMap((x) =>
          Object.entries(x.input)
            .filter(([, v]) => (Array.isArray(v) ? v : [v]).some((e) => aIds.has(e as string) || e === 'alice'))
            .map(([k]) => k),
        ),
      );
      for (const field of idFields(proc.path)) {
        if (NOT_REFERENCES[`${proc.path} ${field}`]) continue;
        expect(attacked.has(field), `${proc.path}: no attack carries A's ${field}`).toBe(true);
      }
    }
  });

  it.each(BOB_SCOPES)(
    'B presenting A’s ids with a %s key gets what a missing id gets, on every procedure and transport, and nothing changes',
    async (scope) => {
      const key = bobKeys[scope];
      const cases = matrix(a, b);
      // Heartbeats A's and B's own workers sent while setting up are written first: only the attacks may change anything after this.
      await srv.server.heartbeats.flush({ all: true });
      const before = await snapshot(srv.server.db);
      let calls = 0;
      const covered = new Set<string>();
      for (const [path, c] of Object.entries(cases)) {
        const proc = byPath.get(path)!;
        for (const attack of c.attacks ?? []) {
          const expectation = expectedFor(scope, proc, attack.expect ?? { status: 404 });
          const missing = withMissingIds(attack.input, a);
          for (const { transport, reply } of await asBob(proc, attack.input, key)) {
            calls++;
            const where = `${transport} ${path} ${JSON.stringify(attack.input)} → ${reply.status} ${JSON.stringify(reply.body)}`;
            if ('status' in expectation) {
              expect(reply.status, where).toBe(expectation.status);
              expect(errorCode(reply), where).toBe(expectation.status === 404 ? 'NOT_FOUND' : 'FORBIDDEN');
            } else {
              expect(reply.status, where).toBe(200);
              expectation.check(data(reply));
            }
            // Indistinguishable from an id that does not exist: no existence oracle.
            const [probe] = (await asBob(proc, missing.input, key)).filter((x) => x.transport === transport);
            let text = JSON.stringify(probe!.reply.body);
            for (const [id, fake] of missing.replaced) text = text.replaceAll(fake, id);
            expect(probe!.reply.status, where).toBe(reply.status);
            expect(text.replace(/"(id|requestId|at)":"[^"]*"/g, ''), where).toBe(
              JSON.stringify(reply.body).replace(/"(id|requestId|at)":"[^"]*"/g, ''),
            );
          }
          for (const field of Object.keys(attack.input)) covered.add(`${path} ${field}`);
        }
        if (c.noObjectId && !c.noObjectId.creates && proc.type !== 'subscription') {
          const expectation = expectedFor(scope, proc, { check: c.noObjectId.check });
          for (const { transport, reply } of await asBob(proc, c.noObjectId.input, key)) {
            calls++;
            const where = `${transport} ${path}: ${JSON.stringify(reply.body)}`;
            if ('status' in expectation) expect([reply.status, errorCode(reply)], where).toEqual([403, 'FORBIDDEN']);
            else {
              expect(reply.status, where).toBe(200);
              expectation.check(data(reply));
            }
          }
        }
      }
      const after = await snapshot(srv.server.db);
      expect(diffSnapshots(before, after)).toEqual([]);
      // What the closing note reports: procedures × id parameters attacked, and calls made.
      const idPairs = [...covered].filter((k) => idFields(k.split(' ')[0]!).includes(k.split(' ')[1]!));
      console.log(
        `[isolation ${kind}] ${scope} key: ${procedures.length} procedures, ${idPairs.length} (procedure, id) pairs, ${calls} calls as B (each also probed with a missing id)`,
      );
      expect(calls).toBeGreaterThan(100);
    },
  );

  it('calls that take no id of A’s create only B’s rows and show nothing of A’s', async () => {
    const before = await snapshot(srv.server.db, { exceptOwner: 'bob' });
    for (const [path, c] of Object.entries(matrix(a, b))) {
      if (!c.noObjectId?.creates) continue;
      // Once, over tRPC (a second call over REST would be a duplicate name).
      const reply = await callTrpc(srv.url, bobKey, byPath.get(path)!, c.noObjectId.input);
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      c.noObjectId.check(data(reply));
    }
    // B's task may reuse A's task name: it is B's own, and A's is untouched.
    const named = await bob('POST', '/swarm/coordinate', {
      task_id: a.task,
      strategy: 'consensus',
      collaborators: 2,
      parameters: { capability: 'iso' },
    });
    expect(named.status, JSON.stringify(named.body)).toBe(202);
    expect(named.body.swarm_id).toBe(b.swarm);
    expect((await alice('GET', `/swarm/tasks/${a.task}/status`)).body).toMatchObject({ swarm_id: a.swarm, status: 'running' });
    expect(diffSnapshots(before, await snapshot(srv.server.db, { exceptOwner: 'bob' }))).toEqual([]);
  });

  it('live.changes streams B only B’s changes, never A’s ids', async () => {
    const abort = new AbortController();
    const res = await fetch(`${srv.url}/trpc/live.changes`, {
      headers: { 'x-api-key': bobKey, accept: 'text/event-stream' },
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    let text = '';
    const reader = res.body!.getReader();
    const reading = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          text += new TextDecoder().decode(value);
        }
      } catch {
        /* aborted */
      }
    })();
    const until = async (probe: () => boolean) => {
      for (let i = 0; i < 100 && !probe(); i++) await new Promise((r) => setTimeout(r, 50));
    };
    await until(() => text.includes('"ready"'));
    expect(text).toContain('"ready"');
    const theirs = await alice('POST', `/api/v1/agents/networks/${a.network}/execute`, { task: { x: 'alice' } });
    expect(theirs.status).toBe(202);
    const mine = await bob('POST', `/api/v1/agents/networks/${b.network}/execute`, { task: { x: 'bob' } });
    expect(mine.status).toBe(202);
    await until(() => text.includes(mine.body.id));
    abort.abort();
    await reading;
    expect(text).toContain(mine.body.id);
    for (const id of [theirs.body.id, a.network, a.swarm, a.task]) expect(text).not.toContain(id);
  });
});

// Row locks: a heartbeat or a result batch naming another owner's subtask ids must not wait on that owner's
// transactions (nor lock its rows). PostgreSQL only: SQLite has no row locks (one writer at a time).
describe.runIf(databaseKinds.includes('postgresql'))('another owner’s row locks on postgresql', () => {
  let srv: TestServer;
  afterAll(() => srv?.close());

  it('answers a heartbeat and a result naming another owner’s locked subtask at once, without waiting on its lock', async () => {
    srv = await startTestServer('postgresql');
    const alice = restClient(srv.url, await srv.keyFor('alice'));
    const bob = restClient(srv.url, await srv.keyFor('bob'));
    const agent = (await alice('POST', '/api/v1/agents', { name: 'locked' })).body;
    const network = (await alice('POST', '/api/v1/agents/networks', { name: 'locked', agents: [agent.id], lease_seconds: 3600 })).body;
    expect((await alice('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { x: 1 } })).status).toBe(202);
    const { subtask } = (await alice('POST', `/api/v1/agents/${agent.id}/claim`, {})).body;
    const lease = { subtask_id: subtask.subtask_id, lease_id: subtask.lease_id };
    // Bob's batches carry a lease of his own beside Alice's id, so the statements have rows of his to work on.
    const bobAgent = (await bob('POST', '/api/v1/agents', { name: 'bobs' })).body;
    const bobNetwork = (await bob('POST', '/api/v1/agents/networks', { name: 'bobs', agents: [bobAgent.id], lease_seconds: 3600 })).body;
    await bob('POST', `/api/v1/agents/networks/${bobNetwork.id}/execute`, { task: { items: [1, 2], chunk_size: 1 } });
    const own = (await bob('POST', `/api/v1/agents/${bobAgent.id}/claims`, { max: 2 })).body.subtasks.map(
      (s: { subtask_id: string; lease_id: string }) => ({ subtask_id: s.subtask_id, lease_id: s.lease_id }),
    );
    expect(own).toHaveLength(2);
    // Alice's own slow transaction holds her subtask's row.
    const pg = (await import('pg')).default;
    const holder = new pg.Client({ connectionString: srv.database.target.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT "id" FROM "subtasks" WHERE "id" = $1 FOR UPDATE', [lease.subtask_id]);
      const answered = Promise.all([
        bob('POST', '/api/v1/subtasks/heartbeats', { leases: [own[0], lease] }),
        bob('POST', '/api/v1/subtasks/results', {
          results: [
            { ...own[1], result: 'mine' },
            { ...lease, result: 'forged' },
          ],
        }),
      ]);
      const early = await Promise.race([answered, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
      expect(early, 'bob’s calls waited on alice’s row lock').not.toBeNull();
      const [beats, results] = early!;
      expect(beats.body.leases).toMatchObject([{ held: true }, { held: false, refusal: 'NOT_FOUND' }]);
      expect(results.body).toMatchObject({ recorded: 1, refused: 1, results: [{ status: 'recorded' }, { refusal: 'NOT_FOUND' }] });
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
    }
  });
});

// Verified results (README "Verification"): the policies (none, replicate,
// adaptive), the comparators, disagreement and inconclusive subtasks, the
// hosts' validation records, quarantine and its release, spot checks, and
// copies on distinct hosts; end to end over HTTP on each database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { checkInvariants } from './support/db-state.ts';
import { restClient } from './support/http.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { eventually, sleep } from './support/waiting.ts';

type Call = ReturnType<typeof restClient>;
interface Claimed {
  subtask_id: string;
  lease_id: string;
  payload: any;
  seq: number;
  replica: number;
  execution_id: string | null;
  task_id: string | null;
}

describe.each(databaseKinds)('verification on %s', (kind) => {
  let srv: TestServer;
  let alice: Call;
  let made = 0;

  /** A new agent (on `host`, when given), live: it has claimed once, so the strategies plan work for it. */
  async function agent(name: string, host?: string) {
    const r = await alice('POST', '/api/v1/agents', { name: `${name}-${++made}`, ...(host ? { host } : {}) });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(await claim(r.body.id)).toBeNull();
    return r.body.id as string;
  }

  async function network(agents: string[], body: Record<string, unknown> = {}) {
    const r = await alice('POST', '/api/v1/agents/networks', { name: `v-${++made}`, agents, work_stealing: false, ...body });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body as { id: string; verification: Record<string, unknown> };
  }

  async function execute(networkId: string, task: unknown, priority = 'normal') {
    const r = await alice('POST', `/api/v1/agents/networks/${networkId}/execute`, { task, priority });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body as { id: string; subtasks: { seq: number; replica: number; assignee_id: string }[] };
  }

  const execution = async (networkId: string, id: string) =>
    (await alice('GET', `/api/v1/agents/networks/${networkId}/executions/${id}`)).body;

  async function claim(agentId: string): Promise<Claimed | null> {
    const r = await alice('POST', `/api/v1/agents/${agentId}/claim`, {});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.subtask;
  }

  async function post(s: { subtask_id: string; lease_id: string }, result: unknown) {
    const r = await alice('POST', `/api/v1/subtasks/${s.subtask_id}/result`, { lease_id: s.lease_id, result });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }

  /** Claims and answers with `answer(payload)` until nothing is left for the agent; the seqs it answered. */
  async function drain(agentId: string, answer: (payload: any) => unknown): Promise<number[]> {
    const seqs: number[] = [];
    for (let s = await claim(agentId); s; s = await claim(agentId)) {
      await post(s, answer(s.payload));
      seqs.push(s.seq);
    }
    return seqs;
  }

  const doubled = (p: any) => p.items.map((x: number) => 2 * x);
  const hostOf = async (id: string) => (await alice('GET', `/api/v1/hosts?limit=500`)).body.hosts.find((h: any) => h.host_id === id);

  beforeAll(async () => {
    srv = await startTestServer(kind);
    alice = restClient(srv.url, await srv.keyFor('alice'));
  });
  afterAll(() => srv?.close());

  it('none is the default: one copy, no validation, today’s views', async () => {
    const a = await agent('plain');
    const n = await network([a]);
    expect(n.verification).toMatchObject({ policy: 'none', copies: 2, quorum: 2, max_copies: 4, trust_after: 10, spot_check_rate: 0.1 });
    const e = await execute(n.id, { items: [1, 2], chunk_size: 1 });
    expect(e.subtasks).toHaveLength(2);
    await drain(a, doubled);
    const done = await execution(n.id, e.id);
    expect(done.status).toBe('completed');
    expect(done.verification).toBeNull();
    expect(done.subtasks.every((s: any) => s.validation === null && s.validated_by === null)).toBe(true);
  });

  it('refuses a bad policy with a 400 naming it, and changes nothing', async () => {
    const a = await agent('bad');
    for (const verification of [{ policy: 'sometimes' }, { policy: 'replicate', quorum: 5 }, { comparator: 'regex' }, { k: 2 }]) {
      const r = await alice('POST', '/api/v1/agents/networks', { name: 'bad', agents: [a], verification });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
    }
    const n = await network([a], { verification: { policy: 'replicate', copies: 3, max_copies: 3 } });
    // Merged into the current policy: copies 3 with max_copies 2 is refused, and the network keeps its policy.
    const r = await alice('PATCH', `/api/v1/agents/networks/${n.id}`, { verification: { max_copies: 2 } });
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/copies \(3\) must be at most verification.max_copies \(2\)/);
    expect((await alice('GET', `/api/v1/agents/networks/${n.id}`)).body.verification).toMatchObject({ copies: 3, max_copies: 3 });
  });

  it('replicate k=2 q=2: two copies on distinct agents, validated when they agree; only validated results count', async () => {
    const [a1, a2, a3] = [await agent('r1'), await agent('r2'), await agent('r3')];
    const n = await network([a1, a2, a3], { verification: { policy: 'replicate' } });
    const e = await execute(n.id, { items: [1, 2, 3], chunk_size: 1, reduce: 'sum' });
    // Each subtask starts with k = 2 copies, never two on one agent.
    for (const seq of [0, 1, 2]) {
      const copies = e.subtasks.filter((s) => s.seq === seq);
      expect(copies).toHaveLength(2);
      expect(new Set(copies.map((s) => s.assignee_id)).size).toBe(2);
    }
    // One copy answered: pending validation, not counted.
    const first = (await claim(a1))!;
    await post(first, doubled(first.payload));
    let view = await execution(n.id, e.id);
    const answered = view.subtasks.find((s: any) => s.id === first.subtask_id);
    expect(answered).toMatchObject({ validation: 'pending', accepted: false });
    expect(view.progress.completed).toBe(0);
    expect(view.verification).toMatchObject({ policy: 'replicate', subtasks_pending: 3, subtasks_validated: 0 });
    for (const a of [a1, a2, a3]) await drain(a, (p) => p.items.map((x: number) => [2 * x][0]));
    view = await execution(n.id, e.id);
    expect(view.status).toBe('completed');
    expect(view.results.subtask_results).toEqual([[2], [4], [6]]);
    expect(view.results.reduced).toBe(12);
    expect(view.subtasks.every((s: any) => s.validation === 'validated' && s.validated_by === 'quorum')).toBe(true);
    expect(view.verification).toMatchObject({
      subtasks_validated: 3,
      subtasks_pending: 0,
      results_run: 6,
      replicas_launched: 3,
      invalid_results: 0,
      compute_overhead: 2,
    });
    const status = (await alice('GET', `/api/v1/agents/networks/${n.id}/status`)).body;
    expect(status.verification).toMatchObject({ policy: 'replicate', subtasks_validated: 3, results_run: 6, compute_overhead: 2 });
    // Each agent's checked results: valid, and its reputation up by 0.2 × (1 − r) each.
    const h1 = await hostOf(a1);
    expect(h1).toMatchObject({ kind: 'agent', invalid: 0, quarantined: false });
    expect(h1.valid).toBeGreaterThan(0);
    expect(h1.reputation).toBeCloseTo(1 - 0.5 * 0.8 ** h1.valid, 10);
  });

  it('a disagreement launches another copy; the dissenter’s record and reputation fall by the documented amount', async () => {
    const [a1, a2, a3] = [await agent('d1'), await agent('d2'), await agent('d3')];
    const n = await network([a1, a2, a3], { verification: { policy: 'replicate' } });
    const e = await execute(n.id, { subtasks: [{ x: 1 }] });
    const holders = e.subtasks.map((s) => s.assignee_id);
    const liar = holders[0]!;
    const honest = holders[1]!;
    const third = [a1, a2, a3].find((a) => !holders.includes(a))!;
    await drain(liar, () => 'wrong');
    await drain(honest, () => 'right');
    // Two answers, no quorum: a third copy, on the agent holding none.
    const view = await execution(n.id, e.id);
    expect(view.subtasks).toHaveLength(3);
    expect(view.subtasks.find((s: any) => s.replica === 2).assignee_id).toBe(third);
    expect(view.status).toBe('running');
    await drain(third, () => 'right');
    const done = await execution(n.id, e.id);
    expect(done.status).toBe('completed');
    expect(done.results.subtask_results).toEqual(['right']);
    expect(done.subtasks.map((s: any) => s.validation)).toEqual(['invalid', 'validated', 'validated']);
    expect(done.verification).toMatchObject({ invalid_results: 1, results_run: 3, replicas_launched: 2, compute_overhead: 3 });
    const record = await hostOf(liar);
    expect(record).toMatchObject({ valid: 0, invalid: 1, valid_streak: 0, recent: 'x', quarantined: false });
    // r ← r − 0.2 × r from the initial 0.5.
    expect(record.reputation).toBeCloseTo(0.4, 10);
    expect((await hostOf(honest)).reputation).toBeCloseTo(0.6, 10);
  });

  it('no quorum within max_copies: inconclusive, every answer kept, left out of the results and the reduce', async () => {
    const [a1, a2] = [await agent('i1'), await agent('i2')];
    const n = await network([a1, a2], { verification: { policy: 'replicate', max_copies: 2 } });
    const e = await execute(n.id, { items: [1, 2], chunk_size: 1, reduce: 'concat' });
    await drain(a1, (p) => (p.offset === 0 ? ['one'] : ['a1-two']));
    await drain(a2, (p) => (p.offset === 0 ? ['one'] : ['a2-two']));
    const done = await execution(n.id, e.id);
    expect(done.status).toBe('completed');
    expect(done.results).toMatchObject({ subtask_results: [['one'], null], inconclusive: [1], reduced: ['one'] });
    const second = done.subtasks.filter((s: any) => s.seq === 1);
    expect(second.map((s: any) => [s.validation, s.result]).sort()).toEqual([
      ['inconclusive', ['a1-two']],
      ['inconclusive', ['a2-two']],
    ]);
    expect(done.verification).toMatchObject({ subtasks_validated: 1, subtasks_inconclusive: 1, invalid_results: 0 });
    // Nobody's record moved for the inconclusive subtask: only the agreeing first one counts.
    expect((await hostOf(a1)).recent).toBe('v');
    expect(await checkInvariants(srv.server.db)).toEqual([]);
  });

  it('numeric and set comparators: results within tolerance, or equal as sets, agree', async () => {
    const [a1, a2] = [await agent('c1'), await agent('c2')];
    const numeric = await network([a1, a2], { verification: { policy: 'replicate', comparator: 'numeric', relative_tolerance: 1e-6 } });
    const e1 = await execute(numeric.id, { subtasks: [{ x: 1 }] });
    await drain(a1, () => ({ loss: 0.1 + 0.2, weights: [1, 2] }));
    await drain(a2, () => ({ weights: [1, 2.0000001], loss: 0.3 }));
    expect((await execution(numeric.id, e1.id)).status).toBe('completed');
    const set = await network([a1, a2], { verification: { policy: 'replicate', comparator: 'set' } });
    const e2 = await execute(set.id, { subtasks: [{ x: 1 }] });
    await drain(a1, () => ['b', 'a']);
    await drain(a2, () => ['a', 'b', 'b']);
    const done = await execution(set.id, e2.id);
    expect(done.status).toBe('completed');
    expect(done.results.subtask_results).toEqual([['b', 'a']]);
  });

  it('adaptive: untrusted hosts’ work is replicated until a quorum agrees; a trusted host’s result counts alone', async () => {
    const [a1, a2] = [await agent('t1'), await agent('t2')];
    const n = await network([a1, a2], { verification: { policy: 'adaptive', trust_after: 2, spot_check_rate: 0 } });
    // One copy each at first: whether a second is needed depends on whose result it is.
    const e = await execute(n.id, { items: [1, 2], chunk_size: 1 });
    expect(e.subtasks).toHaveLength(2);
    for (let round = 0; round < 3; round++) {
      await drain(a1, doubled);
      await drain(a2, doubled);
    }
    let view = await execution(n.id, e.id);
    expect(view.status).toBe('completed');
    // Both were untrusted: each subtask got a second copy, on the other agent, and both agreed.
    expect(view.subtasks).toHaveLength(4);
    expect(view.subtasks.every((s: any) => s.validated_by === 'quorum')).toBe(true);
    for (const a of [a1, a2]) expect(await hostOf(a)).toMatchObject({ trusted: true, valid_streak: 2 });
    // Trusted now: one copy, validated by trust, nothing added; the record does not move (an unchecked result).
    const e2 = await execute(n.id, { items: [5, 6], chunk_size: 1 });
    await drain(a1, doubled);
    await drain(a2, doubled);
    view = await execution(n.id, e2.id);
    expect(view.status).toBe('completed');
    expect(view.subtasks).toHaveLength(2);
    expect(view.subtasks.every((s: any) => s.validation === 'validated' && s.validated_by === 'trust')).toBe(true);
    expect(view.verification).toMatchObject({ compute_overhead: 1, replicas_launched: 0 });
    expect((await hostOf(a1)).valid_streak).toBe(2);
  });

  it('adaptive probation: a new host’s next own subtask waits for its first result’s check; checking copies it still takes; a valid check ends it for good and wakes its long poll', async () => {
    const [fresh, checker] = [await agent('p1'), await agent('p2')];
    const n = await network([fresh, checker], { verification: { policy: 'adaptive', trust_after: 10, spot_check_rate: 0 } });
    // Round-robin: seqs 0 and 2 are the new host's own, 1 and 3 the checker's.
    const e = await execute(n.id, { items: [1, 2, 3, 4], chunk_size: 1 });
    const first = (await claim(fresh))!;
    expect([first.seq, first.replica]).toEqual([0, 0]);
    await post(first, doubled(first.payload));
    const onProbation = await hostOf(fresh);
    expect(onProbation).toMatchObject({ valid: 0, invalid: 0, trusted: false });
    expect(new Date(onProbation.probation_until).getTime()).toBeGreaterThan(Date.now());
    // Its own seq 2 waits: nothing new while its result awaits its check.
    expect(await claim(fresh)).toBeNull();
    // The copy checking seq 0 keeps the subtask's place: ahead of the checker's own.
    const check = (await claim(checker))!;
    expect([check.seq, check.replica]).toEqual([0, 1]);
    // The new host waits in a long poll meanwhile; the check ending its probation wakes it with seq 2 at once.
    const started = performance.now();
    const woken = alice('POST', `/api/v1/agents/${fresh}/claim`, { wait_seconds: 20 });
    await sleep(300);
    await post(check, doubled(check.payload));
    const next = (await woken).body.subtask as Claimed;
    expect([next.seq, next.replica]).toEqual([2, 0]);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(await hostOf(fresh)).toMatchObject({ valid: 1, probation_until: null });
    // Validated once, never on probation again: a result of its awaiting a check no longer holds its claims.
    await post(next, doubled(next.payload));
    expect((await hostOf(fresh)).probation_until).toBeNull();
    for (let round = 0; round < 3; round++) for (const a of [fresh, checker]) await drain(a, doubled);
    const done = await execution(n.id, e.id);
    expect(done.status).toBe('completed');
    expect(done.results.subtask_results).toEqual([[2], [4], [6], [8]]);
  });

  it('adaptive: a host never validated holds one subtask of its own at a time, even before its result arrives', async () => {
    const [fresh, other] = [await agent('e1'), await agent('e2')];
    const n = await network([fresh, other], { verification: { policy: 'adaptive', spot_check_rate: 0 } });
    // Round-robin: seqs 0 and 2 are the new host's.
    const e = await execute(n.id, { items: [1, 2, 3, 4], chunk_size: 1 });
    expect(await hostOf(fresh)).toMatchObject({ valid: 0, invalid: 0, trusted: false, probation_until: null });
    const first = (await claim(fresh))!;
    expect([first.seq, first.replica]).toEqual([0, 0]);
    // Its result may be on its way (a worker posts it while claiming its next): seq 2 waits until it is checked.
    expect(await claim(fresh), 'one of its own at a time').toBeNull();
    await post(first, doubled(first.payload));
    expect(await claim(fresh)).toBeNull();
    for (let round = 0; round < 3; round++) for (const a of [other, fresh]) await drain(a, doubled);
    expect((await hostOf(fresh)).valid).toBeGreaterThan(0);
    expect((await execution(n.id, e.id)).status).toBe('completed');
  });

  it('adaptive probation: a host only ever wrong hands in one unchecked result at a time, and is quarantined after its 2nd', async () => {
    const [liar, h1, h2] = [await agent('pl'), await agent('ph1'), await agent('ph2')];
    const n = await network([liar, h1, h2], { verification: { policy: 'adaptive', spot_check_rate: 0 } });
    const e = await execute(n.id, { items: Array.from({ length: 12 }, (_, i) => i + 1), chunk_size: 1 });
    // The liar answers as fast as it can claim; the honest hosts check in between.
    let lies = 0;
    for (let round = 0; round < 12 && !(await hostOf(liar))?.quarantined; round++) {
      const s = await claim(liar);
      if (s) {
        await post(s, ['lie']);
        lies++;
        expect(await claim(liar), 'nothing more while its result awaits its check').toBeNull();
      }
      for (const a of [h1, h2]) {
        const s = await claim(a);
        if (s) await post(s, doubled(s.payload));
      }
    }
    expect(await hostOf(liar)).toMatchObject({ quarantined: true, invalid: 2, valid: 0 });
    expect(lies).toBe(2);
    await eventually(async () => {
      for (const a of [h1, h2]) await drain(a, doubled);
      return (await execution(n.id, e.id)).status === 'completed';
    });
    expect((await execution(n.id, e.id)).results.subtask_results).toEqual(Array.from({ length: 12 }, (_, i) => [2 * (i + 1)]));
  });

  it('adaptive probation: checking copies one at a time, and an invalid check does not end it while another result awaits its own', async () => {
    const [liar, h1, h2] = [await agent('po'), await agent('ph'), await agent('pk')];
    const n = await network([liar, h1, h2], { verification: { policy: 'adaptive', spot_check_rate: 0 } });
    // Round-robin: seqs 0 and 3 are the liar's, 1 and 4 h1's, 2 and 5 h2's.
    const e = await execute(n.id, { items: [1, 2, 3, 4, 5, 6], chunk_size: 1 });
    for (const [host, seq] of [
      [h1, 1],
      [h2, 2],
    ] as const) {
      const own = (await claim(host))!;
      expect([own.seq, own.replica]).toEqual([seq, 0]);
      await post(own, doubled(own.payload));
    }
    const first = (await claim(liar))!;
    expect([first.seq, first.replica]).toEqual([0, 0]);
    await post(first, ['lie']);
    expect((await hostOf(liar)).probation_until).not.toBeNull();
    // Wherever the checks were placed: seq 1's is the liar's, seq 0's and seq 2's are h1's (each holds no other copy).
    const place = async (seqs: number[], assigneeId: string) => {
      const moved = await srv.server.db.run((db) =>
        db.subtask.updateMany({
          where: { executionId: e.id, seq: { in: seqs }, replica: { gt: 0 }, status: 'assigned' },
          data: { assigneeId },
        }),
      );
      expect(moved.count).toBe(seqs.length);
    };
    await place([1], liar);
    await place([0, 2], h1);
    const check = (await claim(liar))!;
    expect([check.seq, check.replica]).toEqual([1, 1]);
    // Another check queued for it waits while it holds this one, and while this one awaits a tie-breaker (it disagreed).
    await place([2], liar);
    expect(await claim(liar), 'one checking copy at a time on probation: held').toBeNull();
    await post(check, ['lie']);
    expect(await claim(liar), 'one checking copy at a time on probation: awaiting its check').toBeNull();
    await place([2], h1);
    // h2 breaks the tie (the only host holding no copy of seq 1): the liar's check was invalid. Its own seq 0 still
    // awaits its check (h1's), so it stays on probation: its own seq 3 waits.
    const tie = (await claim(h2))!;
    expect([tie.seq, tie.replica]).toEqual([1, 2]);
    await post(tie, doubled(tie.payload));
    expect(await hostOf(liar)).toMatchObject({ invalid: 1, valid: 0, quarantined: false });
    expect((await hostOf(liar)).probation_until).not.toBeNull();
    expect(await claim(liar), 'still on probation while its own result awaits its check').toBeNull();
    // The honest hosts decide the rest: the liar's own result is its 2nd invalid, and it is quarantined.
    await eventually(async () => {
      for (const a of [h1, h2]) await drain(a, doubled);
      return (await hostOf(liar)).quarantined || null;
    });
    expect(await hostOf(liar)).toMatchObject({ quarantined: true, invalid: 2, valid: 0 });
    await eventually(async () => {
      for (const a of [h1, h2]) await drain(a, doubled);
      return (await execution(n.id, e.id)).status === 'completed' || null;
    });
    expect((await execution(n.id, e.id)).results.subtask_results).toEqual([[2], [4], [6], [8], [10], [12]]);
  });

  it('adaptive probation: a doubted host (an invalid result in its window) hands in one unchecked result of its own at a time', async () => {
    const [slip, h1, h2] = [await agent('ds'), await agent('dh'), await agent('dk')];
    const settings = { verification: { policy: 'adaptive', spot_check_rate: 0 } };
    // A first execution: the slipping host answers its first own subtask right, its second wrong.
    const warm = await network([slip, h1, h2], settings);
    const w = await execute(warm.id, { items: [1, 2, 3, 4, 5, 6], chunk_size: 1 });
    let own = 0;
    await eventually(async () => {
      for (const a of [h1, h2]) await drain(a, doubled);
      const s = await claim(slip);
      if (s) await post(s, s.replica === 0 && own++ === 1 ? ['wrong'] : doubled(s.payload));
      return (await execution(warm.id, w.id)).status === 'completed' || null;
    });
    expect(await hostOf(slip)).toMatchObject({ invalid: 1, quarantined: false, probation_until: null });
    expect((await hostOf(slip)).valid).toBeGreaterThan(0);
    // Now doubted: once a result of its own awaits its check, no other of its own until that check.
    const n = await network([slip, h1, h2], settings);
    const e = await execute(n.id, { items: [1, 2, 3, 4, 5, 6], chunk_size: 1 });
    let first = (await claim(slip))!;
    while (first.replica > 0) {
      await post(first, doubled(first.payload));
      first = (await claim(slip))!;
    }
    await post(first, doubled(first.payload));
    expect((await hostOf(slip)).probation_until).not.toBeNull();
    const meanwhile = await claim(slip);
    expect(meanwhile?.replica ?? 1, 'nothing new of its own while its result awaits its check').toBeGreaterThan(0);
    if (meanwhile) await post(meanwhile, doubled(meanwhile.payload));
    // Its check by the others ends this probation (the next result of its own starts the next one).
    await eventually(async () => {
      for (const a of [h1, h2]) await drain(a, doubled);
      const decided = (await execution(n.id, e.id)).subtasks.find((s: any) => s.id === first.subtask_id);
      return decided.validation === 'validated' || null;
    });
    expect(await hostOf(slip)).toMatchObject({ invalid: 1, probation_until: null });
    const next = (await claim(slip))!;
    expect(next.replica).toBe(0);
    await post(next, doubled(next.payload));
    await eventually(async () => {
      for (const a of [h1, h2, slip]) await drain(a, doubled);
      return (await execution(n.id, e.id)).status === 'completed' || null;
    });
    expect((await execution(n.id, e.id)).results.subtask_results).toEqual([[2], [4], [6], [8], [10], [12]]);
  });

  it('checking copies go to validated hosts: one never validated gets one only when nobody else can', async () => {
    const [v1, v2, fresh] = [await agent('c1'), await agent('c2'), await agent('c3')];
    // v1 and v2 check each other once: both validated.
    const warm = await network([v1, v2], { verification: { policy: 'adaptive', spot_check_rate: 0 } });
    const w = await execute(warm.id, { items: [1, 2], chunk_size: 1 });
    for (let round = 0; round < 3; round++) for (const a of [v1, v2]) await drain(a, doubled);
    expect((await execution(warm.id, w.id)).status).toBe('completed');
    const n = await network([v1, v2, fresh], { verification: { policy: 'adaptive', spot_check_rate: 0 } });
    const e = await execute(n.id, { items: [1, 2, 3, 4, 5, 6], chunk_size: 1 });
    const own = (a: string) => e.subtasks.filter((s) => s.assignee_id === a).map((s) => s.seq);
    expect(own(fresh)).toHaveLength(2);
    // The validated hosts answer their own and each other's checks: every check of theirs went to the other
    // validated host, though round-robin's next choice was often the new one.
    for (let round = 0; round < 3; round++) for (const a of [v1, v2]) await drain(a, doubled);
    const copies = (await execution(n.id, e.id)).subtasks.filter((s: any) => s.replica > 0);
    expect(copies).toHaveLength(4);
    for (const c of copies) expect(c.assignee_id).toBe(own(v1).includes(c.seq) ? v2 : v1);
    // The new host's own results are checked by validated hosts (its only choice is theirs, as ever).
    await drain(fresh, doubled);
    for (let round = 0; round < 4; round++) for (const a of [v1, v2, fresh]) await drain(a, doubled);
    const done = await execution(n.id, e.id);
    expect(done.status).toBe('completed');
    expect(done.subtasks.filter((s: any) => s.replica > 0 && s.assignee_id === fresh)).toEqual([]);
  });

  it('a host made trusted: its results awaiting a check no copy has started are decided on its trust, the copies withdrawn', async () => {
    const [h, c] = [await agent('tp1'), await agent('tp2')];
    // h is validated once (valid 1, streak 1): no longer on probation, not yet trusted at N 2.
    const warm = await network([h, c], { verification: { policy: 'adaptive', spot_check_rate: 0, trust_after: 2 } });
    const w = await execute(warm.id, { items: [1], chunk_size: 1 });
    for (let round = 0; round < 3; round++) for (const a of [h, c]) await drain(a, doubled);
    expect((await execution(warm.id, w.id)).status).toBe('completed');
    expect(await hostOf(h)).toMatchObject({ valid_streak: 1, trusted: false });
    // Round-robin: seqs 0 and 2 are h's. It answers both; each waits for a check on c.
    const n = await network([h, c], { verification: { policy: 'adaptive', spot_check_rate: 0, trust_after: 2 } });
    const e = await execute(n.id, { items: [1, 2, 3, 4], chunk_size: 1 });
    for (const seq of [0, 2]) {
      const own = (await claim(h))!;
      expect([own.seq, own.replica]).toEqual([seq, 0]);
      await post(own, doubled(own.payload));
    }
    // c checks seq 0: h's streak reaches 2, it is trusted, and seq 2's unstarted check is withdrawn: decided on trust.
    const check = (await claim(c))!;
    expect([check.seq, check.replica]).toEqual([0, 1]);
    await post(check, doubled(check.payload));
    expect(await hostOf(h)).toMatchObject({ trusted: true });
    const seq2 = await eventually(async () => {
      const rows = (await execution(n.id, e.id)).subtasks.filter((s: any) => s.seq === 2);
      return rows.some((s: any) => s.validated_by === 'trust') ? rows : null;
    });
    expect(seq2.find((s: any) => s.replica === 0)).toMatchObject({ assignee_id: h, validation: 'validated', validated_by: 'trust' });
    expect(seq2.find((s: any) => s.replica === 1)).toMatchObject({ assignee_id: c, status: 'cancelled' });
    for (let round = 0; round < 3; round++) for (const a of [c, h]) await drain(a, doubled);
    const done = await execution(n.id, e.id);
    expect(done.status).toBe('completed');
    expect(done.results.subtask_results).toEqual([[2], [4], [6], [8]]);
  });

  it('a check its host’s pending checks may make unneeded waits at the back of the queue, and is withdrawn once they do', async () => {
    const [h, c] = [await agent('tb1'), await agent('tb2')];
    const settings = { verification: { policy: 'adaptive', spot_check_rate: 0, trust_after: 2 } };
    // h is validated once (streak 1): not on probation, not yet trusted at N 2.
    const warm = await network([h, c], settings);
    const w = await execute(warm.id, { items: [1], chunk_size: 1 });
    for (let round = 0; round < 3; round++) for (const a of [h, c]) await drain(a, doubled);
    expect((await execution(warm.id, w.id)).status).toBe('completed');
    expect(await hostOf(h)).toMatchObject({ valid_streak: 1, trusted: false });
    // Round-robin: seqs 0, 2 and 4 are h's, 1, 3 and 5 c's. h answers 0 (streak 1 + 0 pending: its check keeps
    // the subtask's place), then 2 (1 + 1 pending reach N: its check goes to the back of c's queue).
    const n = await network([h, c], settings);
    const e = await execute(n.id, { items: [1, 2, 3, 4, 5, 6], chunk_size: 1 });
    for (const seq of [0, 2]) {
      const own = (await claim(h))!;
      expect([own.seq, own.replica]).toEqual([seq, 0]);
      await post(own, doubled(own.payload));
    }
    const taken: Claimed[] = [];
    for (let i = 0; i < 3; i++) taken.push((await claim(c))!);
    expect(taken.map((s) => [s.seq, s.replica])).toEqual([
      [0, 1],
      [1, 0],
      [3, 0],
    ]);
    // seq 0's check makes h trusted: seq 2's check, still unclaimed at the back, is withdrawn and seq 2 decided on trust.
    for (const s of taken) await post(s, doubled(s.payload));
    expect(await hostOf(h)).toMatchObject({ trusted: true });
    const seq2 = await eventually(async () => {
      const rows = (await execution(n.id, e.id)).subtasks.filter((s: any) => s.seq === 2);
      return rows.some((s: any) => s.validated_by === 'trust') ? rows : null;
    });
    expect(seq2.find((s: any) => s.replica === 1)).toMatchObject({ assignee_id: c, status: 'cancelled' });
    for (let round = 0; round < 3; round++) for (const a of [c, h]) await drain(a, doubled);
    const done = await execution(n.id, e.id);
    expect(done.status).toBe('completed');
    expect(done.results.subtask_results).toEqual([[2], [4], [6], [8], [10], [12]]);
    // Every check c ran was needed: seq 2's never ran.
    expect(done.subtasks.filter((s: any) => s.replica > 0 && s.status === 'completed').map((s: any) => s.seq)).not.toContain(2);
  });

  it('a trusted host’s result is spot-checked whatever the draw once ⌈2 / r⌉ − 1 in a row were taken on its trust', async () => {
    const [h, c] = [await agent('sg1'), await agent('sg2')];
    // r = 0.001: a draw almost never comes up, and the bound is ⌈2 / r⌉ = 2,000 results.
    const n = await network([h, c], { verification: { policy: 'adaptive', trust_after: 1, spot_check_rate: 0.001 } });
    const warm = await execute(n.id, { items: [1, 2], chunk_size: 1 });
    for (let round = 0; round < 3; round++) for (const a of [h, c]) await drain(a, doubled);
    expect((await execution(n.id, warm.id)).status).toBe('completed');
    for (const a of [h, c]) expect(await hostOf(a)).toMatchObject({ trusted: true });
    const trustedRun = async (id: string) =>
      (await srv.server.db.run((db) => db.validationRecord.findUniqueOrThrow({ where: { id } }))).trustedRun;
    const setRun = (trustedRun: number) =>
      srv.server.db.run((db) => db.validationRecord.updateMany({ where: { id: { in: [h, c] } }, data: { trustedRun } }));
    /** A one-subtask execution whose host answers it: the host, the other, and the execution. */
    const answered = async (item: number) => {
      const e = await execute(n.id, { items: [item], chunk_size: 1 });
      const host = e.subtasks[0]!.assignee_id;
      const mine = (await claim(host))!;
      await post(mine, doubled(mine.payload));
      return { host, other: host === h ? c : h, e };
    };
    // A result taken on its host's trust alone (unless the draw came up) moves its run by one.
    await setRun(0);
    const first = await answered(3);
    const decided = (await execution(n.id, first.e.id)).subtasks.find((s: any) => s.replica === 0);
    expect(await trustedRun(first.host)).toBe(decided.validated_by === 'trust' ? 1 : 0);
    for (let round = 0; round < 2; round++) for (const a of [c, h]) await drain(a, doubled);
    // After 1,999 in a row taken on trust the next result is checked by another copy, and the run starts again.
    await setRun(1999);
    const { host, other, e } = await answered(4);
    expect(await trustedRun(host)).toBe(0);
    expect((await execution(n.id, e.id)).subtasks.map((s: any) => [s.replica, s.assignee_id])).toEqual([
      [0, host],
      [1, other],
    ]);
    await drain(other, doubled);
    const done = await execution(n.id, e.id);
    expect(done.status).toBe('completed');
    expect(done.subtasks.find((s: any) => s.replica === 0)).toMatchObject({ validation: 'validated', validated_by: 'quorum' });
  });

  it('a spot check catches a trusted host that went bad; its results taken on trust in live work are checked again', async () => {
    const [good1, good2, bad] = [await agent('s1'), await agent('s2'), await agent('s3')];
    const n = await network([good1, good2, bad], {
      coordination_strategy: 'least-loaded',
      verification: { policy: 'adaptive', trust_after: 1, spot_check_rate: 0 },
    });
    // Everyone earns trust (one checked result each).
    const warm = await execute(n.id, { items: [1, 2, 3], chunk_size: 1 });
    for (let round = 0; round < 3; round++) for (const a of [good1, good2, bad]) await drain(a, doubled);
    expect((await execution(n.id, warm.id)).status).toBe('completed');
    for (const a of [good1, good2, bad]) expect((await hostOf(a)).trusted).toBe(true);
    // An execution under r = 0: the (now bad) host's wrong result is taken on its trust alone...
    const live = await execute(n.id, { items: [10, 20, 30], chunk_size: 1 });
    const mine = live.subtasks.find((s) => s.assignee_id === bad)!;
    await drain(bad, () => ['forged']);
    let view = await execution(n.id, live.id);
    expect(view.subtasks.find((s: any) => s.seq === mine.seq)).toMatchObject({ validated_by: 'trust', result: ['forged'] });
    // ... until a spot check (r = 1 on a new execution, ahead in the queues) catches it: a second copy disagrees, a
    // third sides with the second. The live execution is still running meanwhile.
    await alice('PATCH', `/api/v1/agents/networks/${n.id}`, { verification: { spot_check_rate: 1 } });
    const checked = await execute(n.id, { subtasks: [{ items: [7] }] }, 'high');
    expect(checked.subtasks.map((s) => s.assignee_id)).toEqual([bad]);
    const answer = async (a: string) => {
      const s = (await claim(a))!;
      expect(s.execution_id).toBe(checked.id);
      await post(s, a === bad ? ['forged'] : doubled(s.payload));
    };
    await answer(bad);
    await answer(good1);
    await answer(good2);
    const caught = await execution(n.id, checked.id);
    expect(caught.status).toBe('completed');
    expect(caught.results.subtask_results).toEqual([[14]]);
    expect(caught.subtasks.find((s: any) => s.assignee_id === bad).validation).toBe('invalid');
    expect(await hostOf(bad)).toMatchObject({ trusted: false, valid_streak: 0, invalid: 1 });
    // Its result in the live execution is pending again, and another copy checks it.
    view = await eventually(async () => {
      const v = await execution(n.id, live.id);
      return v.subtasks.filter((s: any) => s.seq === mine.seq).length > 1 ? v : null;
    });
    expect(view.status).toBe('running');
    expect(view.subtasks.find((s: any) => s.assignee_id === bad && s.seq === mine.seq)).toMatchObject({
      validation: 'pending',
      accepted: false,
    });
    expect(view.progress.completed).toBe(0);
    const answers = (a: string) => drain(a, (p) => (a === bad ? ['forged'] : doubled(p)));
    for (let round = 0; round < 3; round++) for (const a of [good1, good2, bad]) await answers(a);
    view = await execution(n.id, live.id);
    expect(view.status).toBe('completed');
    expect(view.results.subtask_results).toEqual([[20], [40], [60]]);
    // Once what follows the last commit (a quarantine's release, a recheck) has run, every invariant holds.
    await eventually(async () => (await checkInvariants(srv.server.db)).length === 0 || null).catch(async () =>
      expect(await checkInvariants(srv.server.db)).toEqual([]),
    );
  });

  it('quarantines a host whose results keep failing: no more work, an audit entry, a metric; lifted by its owner or the cool-down', async () => {
    const [h1, h2, liar] = [await agent('q1'), await agent('q2'), await agent('q3')];
    const n = await network([h1, h2, liar], {
      verification: { policy: 'replicate', copies: 3, quarantine_after: 2, quarantine_seconds: 3600 },
    });
    const e = await execute(n.id, { items: [1, 2, 3], chunk_size: 1 });
    // The liar answers its first two wrong: two invalid results quarantine it.
    let lies = 0;
    for (let s = await claim(liar); s && lies < 2; s = lies < 2 ? await claim(liar) : null) {
      await post(s, ['lie']);
      lies++;
    }
    for (const a of [h1, h2]) await drain(a, doubled);
    const record = await eventually(async () => {
      const r = await hostOf(liar);
      return r?.quarantined ? r : null;
    });
    expect(record).toMatchObject({ invalid: 2, quarantines: 1, valid_streak: 0 });
    expect(new Date(record.quarantined_until).getTime()).toBeGreaterThan(Date.now() + 3500_000);
    // Its open work moved to the others (a quarantined host takes no work): the execution completes without it.
    await eventually(async () => {
      for (const a of [h1, h2]) await drain(a, doubled);
      return (await execution(n.id, e.id)).status === 'completed';
    });
    expect(await claim(liar)).toBeNull();
    const audit = (await alice('GET', `/api/v1/audit?action=host.quarantine&target_id=${liar}`)).body;
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]).toMatchObject({ actor_owner_id: 'server', detail: { kind: 'agent', execution_id: e.id } });
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/aitbc_hosts\{state="quarantined"\} [1-9]/);
    expect(metrics).toMatch(/aitbc_hosts_quarantined_total [1-9]/);
    expect(metrics).toMatch(/aitbc_invalid_results_total [1-9]/);
    expect(metrics).toMatch(/aitbc_verification_compute_overhead \d/);
    const quarantined = (await alice('GET', '/api/v1/hosts?quarantined=true&limit=500')).body.hosts.map((h: any) => h.host_id);
    expect(quarantined.filter((id: string) => [h1, h2, liar].includes(id))).toEqual([liar]);
    // New work never goes to it.
    const e2 = await execute(n.id, { items: [4, 5], chunk_size: 1 });
    expect(e2.subtasks.some((s) => s.assignee_id === liar)).toBe(false);
    for (const a of [h1, h2]) await drain(a, doubled);
    // A network of quarantined agents alone cannot run anything: a 409 that says so.
    const alone = await network([liar]);
    const refused = await alice('POST', `/api/v1/agents/networks/${alone.id}/execute`, { task: { x: 1 } });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toMatch(/quarantined/);
    // Its owner lifts it: an audit entry, and it gets work again (untrusted).
    const lifted = await alice('POST', `/api/v1/hosts/${liar}/lift`, {});
    expect(lifted.status, JSON.stringify(lifted.body)).toBe(200);
    expect(lifted.body).toMatchObject({ quarantined: false, trusted: false });
    expect((await alice('POST', `/api/v1/hosts/${liar}/lift`, {})).status).toBe(409);
    expect((await alice('POST', `/api/v1/hosts/${h1}/lift`, {})).status).toBe(409);
    expect((await alice('POST', '/api/v1/hosts/nobody/lift', {})).status).toBe(404);
    expect((await alice('GET', `/api/v1/audit?action=host.lift&target_id=${liar}`)).body.entries).toHaveLength(1);
    const back = await execute(alone.id, { x: 1 });
    expect(back.subtasks[0]!.assignee_id).toBe(liar);
    await drain(liar, () => 'ok');
  });

  it('a quarantine ends by itself once its cool-down passes', async () => {
    const [h1, h2, liar] = [await agent('cd1'), await agent('cd2'), await agent('cd3')];
    const n = await network([h1, h2, liar], {
      verification: { policy: 'replicate', copies: 3, max_copies: 3, quarantine_after: 1, quarantine_seconds: 1 },
    });
    const e = await execute(n.id, { subtasks: [{ x: 2 }] });
    expect(e.subtasks.map((s) => s.assignee_id).sort()).toEqual([h1, h2, liar].sort());
    await drain(liar, () => 'lie');
    for (const a of [h1, h2]) await drain(a, (p) => p.x);
    expect((await execution(n.id, e.id)).status).toBe('completed');
    expect(await hostOf(liar)).toMatchObject({ quarantined: true, invalid: 1 });
    const during = await execute(n.id, { subtasks: [{ x: 3 }] });
    expect(during.subtasks.some((s) => s.assignee_id === liar)).toBe(false);
    for (const a of [h1, h2]) await drain(a, (p) => p.x);
    await sleep(1100);
    expect(await hostOf(liar)).toMatchObject({ quarantined: false, quarantined_until: null, trusted: false });
    const after = await execute(n.id, { subtasks: [{ x: 4 }] });
    expect(after.subtasks.some((s) => s.assignee_id === liar)).toBe(true);
    for (const a of [h1, h2, liar]) await drain(a, (p) => p.x);
  });

  it('copies never land on one host: by agent, and by the owner’s host label, when planned, added or stolen', async () => {
    const [m1a, m1b, m2a, solo] = [
      await agent('hm1', 'machine-1'),
      await agent('hm1', 'machine-1'),
      await agent('hm2', 'machine-2'),
      await agent('hs'),
    ];
    const n = await network([m1a, m1b, m2a, solo], {
      work_stealing: true,
      verification: { policy: 'replicate', copies: 3, max_copies: 3 },
    });
    const e = await execute(n.id, { items: [1, 2, 3, 4, 5, 6], chunk_size: 1 });
    const hostLabel: Record<string, string> = { [m1a]: 'machine-1', [m1b]: 'machine-1', [m2a]: 'machine-2', [solo]: solo };
    const distinct = (subtasks: { seq: number; assignee_id: string; status?: string }[]) => {
      for (const seq of new Set(subtasks.map((s) => s.seq))) {
        const hosts = subtasks.filter((s) => s.seq === seq && s.status !== 'cancelled').map((s) => hostLabel[s.assignee_id]);
        expect(new Set(hosts).size, `subtask ${seq}: ${hosts}`).toBe(hosts.length);
      }
    };
    distinct(e.subtasks);
    // m1b, idle, steals what it may: never a copy whose sibling runs on machine-1.
    await drain(m1b, doubled);
    for (const a of [m1a, m2a, solo, m1b]) await drain(a, doubled);
    const done = await execution(n.id, e.id);
    expect(done.status).toBe('completed');
    distinct(done.subtasks);
    // In a swarm too: members on one host never hold two copies of a subtask.
    const members: string[] = [];
    for (const host of ['box-1', 'box-1', 'box-2', 'box-3']) {
      const r = await alice('POST', '/swarm/join', { role: 'task-coordinator', capability: `hosts-${kind}`, host });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body.host).toBe(host);
      members.push(r.body.member_id);
    }
    const t = await alice('POST', '/swarm/coordinate', {
      strategy: 'map-reduce',
      parameters: {
        items: [1, 2, 3, 4],
        chunk_size: 1,
        reduce: 'sum',
        capability: `hosts-${kind}`,
        collaborators: 4,
        verification: { policy: 'replicate', copies: 3, max_copies: 3 },
      },
    });
    expect(t.status, JSON.stringify(t.body)).toBe(202);
    const box: Record<string, string> = { [members[0]!]: 'box-1', [members[1]!]: 'box-1', [members[2]!]: 'box-2', [members[3]!]: 'box-3' };
    for (let round = 0; round < 4; round++)
      for (const m of members) {
        const c = await alice('POST', `/swarm/members/${m}/claims`, { max: 10 });
        expect(c.status).toBe(200);
        if (c.body.subtasks.length === 0) continue;
        const r = await alice('POST', '/api/v1/subtasks/results', {
          results: c.body.subtasks.map((s: Claimed) => ({
            subtask_id: s.subtask_id,
            lease_id: s.lease_id,
            result: s.payload.items[0] * 10,
          })),
        });
        expect(r.status).toBe(200);
      }
    const status = (await alice('GET', `/swarm/tasks/${t.body.task_id}/status`)).body;
    expect(status.status).toBe('completed');
    expect(status.result).toMatchObject({ reduced: 100 });
    for (const seq of [0, 1, 2, 3]) {
      const copies = status.verification.copies.filter((c: any) => c.seq === seq && c.status !== 'cancelled');
      const hosts = copies.map((c: any) => box[c.member_id]);
      expect(new Set(hosts).size, `chunk ${seq}: ${hosts}`).toBe(hosts.length);
    }
    expect(status.verification).toMatchObject({ policy: 'replicate', subtasks_validated: 4, invalid_results: 0 });
  });

  it('a swarm task: adaptive map-reduce counts only validated chunks; a consensus vote checks its voters', async () => {
    const members: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await alice('POST', '/swarm/join', { role: 'monitor', capability: `verify-${kind}` });
      members.push(r.body.member_id);
    }
    const answerAll = async (answer: (m: string, payload: any) => unknown) => {
      for (let round = 0; round < 4; round++)
        for (const m of members) {
          const c = await alice('POST', `/swarm/members/${m}/claims`, { max: 10 });
          if (c.body.subtasks.length === 0) continue;
          await alice('POST', '/api/v1/subtasks/results', {
            results: c.body.subtasks.map((s: Claimed) => ({
              subtask_id: s.subtask_id,
              lease_id: s.lease_id,
              result: answer(m, s.payload),
            })),
          });
        }
    };
    const t = await alice('POST', '/swarm/coordinate', {
      strategy: 'map-reduce',
      parameters: {
        items: [1, 2, 3],
        chunk_size: 1,
        reduce: 'sum',
        capability: `verify-${kind}`,
        work_stealing: false,
        verification: { policy: 'adaptive' },
      },
    });
    expect(t.status, JSON.stringify(t.body)).toBe(202);
    await answerAll((m, p) => (m === members[0] ? 999 : p.items[0]));
    const status = (await alice('GET', `/swarm/tasks/${t.body.task_id}/status`)).body;
    expect(status.status).toBe('completed');
    // The liar's answers were checked by other members: the sum holds only validated results.
    expect(status.result.reduced).toBe(6);
    const caught = status.verification.copies.filter((c: any) => c.member_id === members[0]);
    expect(caught.length).toBeGreaterThan(0);
    expect(caught.every((c: any) => c.validation === 'invalid')).toBe(true);
    const liar = await hostOf(members[0]!);
    expect(liar).toMatchObject({ kind: 'member', valid: 0, invalid: caught.length });
    // Its reputation is its swarm reputation: 0.5, less 0.2 × r for each invalid result.
    const listed = (await alice('GET', `/swarm/list?swarm_id=${status.swarm_id}`)).body.swarms[0].members;
    expect(listed.find((m: any) => m.member_id === members[0]).reputation).toBeCloseTo(0.5 * 0.8 ** caught.length, 10);

    // A consensus vote under a policy, numeric comparator: 1.0 and 1.0000001 agree; the dissenter is checked invalid.
    members.length = 0;
    for (let i = 0; i < 3; i++)
      members.push((await alice('POST', '/swarm/join', { role: 'monitor', capability: `vote-${kind}` })).body.member_id);
    const v = await alice('POST', '/swarm/coordinate', {
      strategy: 'consensus',
      parameters: {
        payload: 'vote',
        capability: `vote-${kind}`,
        collaborators: 3,
        verification: { policy: 'replicate', comparator: 'numeric' },
      },
    });
    expect(v.status, JSON.stringify(v.body)).toBe(202);
    await answerAll((m) => (m === members[0] ? 1 : m === members[1] ? 1.0000001 : 7));
    const decided = (await alice('GET', `/swarm/tasks/${v.body.task_id}/status`)).body;
    expect(decided.consensus).toMatchObject({ consensus_reached: true, dissenting_members: [members[2]] });
    expect(decided.verification.copies.map((c: any) => c.validation).sort()).toEqual(['invalid', 'validated', 'validated']);
    expect((await hostOf(members[2]!)).invalid).toBe(1);
    const swarm = (await alice('GET', `/swarm/status?swarm_id=${decided.swarm_id}`)).body;
    expect(swarm[0].verification).toMatchObject({ policy: null, subtasks_validated: 1, results_run: 3, invalid_results: 1 });
    await eventually(async () => (await checkInvariants(srv.server.db)).length === 0 || null).catch(async () =>
      expect(await checkInvariants(srv.server.db)).toEqual([]),
    );
  });
});

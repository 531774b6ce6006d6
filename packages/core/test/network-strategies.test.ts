import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Assignment,
  type Candidate,
  COORDINATION_STRATEGIES,
  type CoordinationStrategy,
  chooseAgent,
  isCapable,
  NoCapableAgentError,
  type PlannedSubtask,
  planAssignments,
} from '../src/index.ts';

const TAGS = ['gpu', 'llm', 'cpu', 'ocr'];
const SINGLE: CoordinationStrategy[] = ['round-robin', 'least-loaded', 'capability-match', 'centralized'];
const RUNS = { numRuns: 200 };

const agentsArb = fc
  .array(
    fc.record({
      capabilities: fc.subarray(TAGS),
      open: fc.nat(10),
      live: fc.boolean(),
      avgTaskSeconds: fc.option(fc.double({ min: 0.1, max: 100, noNaN: true }), { nil: null }),
    }),
    { minLength: 1, maxLength: 8 },
  )
  .map((list): Candidate[] => list.map((agent, i) => ({ id: `a${i}`, ...agent })));

const subtasksArb = fc
  .array(fc.subarray(TAGS, { maxLength: 2 }), { minLength: 1, maxLength: 40 })
  .map((list): PlannedSubtask[] => list.map((requires, seq) => ({ seq, payload: { seq }, requires })));

const strategyArb = fc.constantFrom(...COORDINATION_STRATEGIES);

/** The rule stated independently of the implementation: capable, and live when any capable agent is. */
function eligibleIds(agents: readonly Candidate[], requires: readonly string[]): string[] {
  const capable = agents.filter((agent) => isCapable(agent, requires));
  const live = capable.filter((agent) => agent.live);
  return (live.length > 0 ? live : capable).map((agent) => agent.id);
}

function forSeq(assignments: readonly Assignment[], seq: number): Assignment[] {
  return assignments.filter((assignment) => assignment.seq === seq);
}

function candidate(id: string, overrides: Partial<Candidate> = {}): Candidate {
  return { id, capabilities: [], open: 0, live: true, avgTaskSeconds: null, ...overrides };
}

function subtasks(count: number, requires: string[] = []): PlannedSubtask[] {
  return Array.from({ length: count }, (_, seq) => ({ seq, payload: seq, requires }));
}

describe('planAssignments: properties of every strategy', () => {
  it('assigns every subtask to eligible, distinct agents, or throws iff a subtask has no capable agent', () => {
    fc.assert(
      fc.property(
        strategyArb,
        agentsArb,
        subtasksArb,
        fc.nat(100),
        fc.integer({ min: 1, max: 5 }),
        (strategy, agents, tasks, cursor, replication) => {
          const before = structuredClone(agents);
          const impossible = tasks.find((task) => !agents.some((agent) => isCapable(agent, task.requires)));
          let plan: ReturnType<typeof planAssignments>;
          try {
            plan = planAssignments(tasks, agents, { strategy, cursor, replication });
          } catch (error) {
            expect(error).toBeInstanceOf(NoCapableAgentError);
            expect(impossible).toBeDefined();
            expect((error as NoCapableAgentError).seq).toBe(impossible!.seq);
            return;
          }
          expect(impossible).toBeUndefined();
          expect(agents).toEqual(before);

          for (const task of tasks) {
            const mine = forSeq(plan.assignments, task.seq);
            const eligible = eligibleIds(agents, task.requires);
            const ids = mine.map((assignment) => assignment.agentId);
            expect(mine.map((assignment) => assignment.replica)).toEqual(mine.map((_, i) => i));
            expect(new Set(ids).size).toBe(ids.length);
            for (const id of ids) expect(eligible).toContain(id);
            if (SINGLE.includes(strategy)) expect(mine).toHaveLength(1);
            if (strategy === 'decentralized') expect(ids).toEqual(eligible);
            if (strategy === 'hybrid') expect(mine).toHaveLength(Math.min(replication, eligible.length));
          }
          const order = plan.assignments.map((a) => [a.seq, a.replica]);
          expect(order).toEqual([...order].sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!));
          if (strategy !== 'round-robin') expect(plan.cursor).toBe(cursor);
        },
      ),
      RUNS,
    );
  });

  it('round-robin with every agent eligible takes turns from the cursor, balanced within one, across plans', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 40 }), fc.nat(1000), fc.nat(40), (n, count, cursor, split) => {
        const agents = Array.from({ length: n }, (_, i) => candidate(`a${i}`, { open: (i * 7) % 5, capabilities: i % 2 ? ['gpu'] : [] }));
        const plan = planAssignments(subtasks(count), agents, { strategy: 'round-robin', cursor, replication: 1 });
        const ids = plan.assignments.map((assignment) => assignment.agentId);
        expect(ids).toEqual(ids.map((_, i) => `a${(cursor + i) % n}`));
        const perAgent = agents.map((agent) => ids.filter((id) => id === agent.id).length);
        expect(Math.max(...perAgent) - Math.min(...perAgent)).toBeLessThanOrEqual(1);

        // two executions in a row continue where the first stopped
        const first = Math.min(split, count);
        const a = planAssignments(subtasks(first), agents, { strategy: 'round-robin', cursor, replication: 1 });
        const b = planAssignments(subtasks(count - first), agents, { strategy: 'round-robin', cursor: a.cursor, replication: 1 });
        expect([...a.assignments, ...b.assignments].map((x) => x.agentId)).toEqual(ids);
      }),
      RUNS,
    );
  });

  it('each choice is the best eligible agent by the working load the earlier choices left', () => {
    const replayed = fc.constantFrom<CoordinationStrategy>('least-loaded', 'capability-match', 'centralized', 'hybrid');
    fc.assert(
      fc.property(replayed, agentsArb, subtasksArb, fc.integer({ min: 1, max: 4 }), (strategy, agents, tasks, replication) => {
        fc.pre(tasks.every((task) => agents.some((agent) => isCapable(agent, task.requires))));
        const plan = planAssignments(tasks, agents, { strategy, cursor: 0, replication });
        const load = new Map(agents.map((agent) => [agent.id, agent.open]));
        const known = agents.flatMap((agent) => (agent.avgTaskSeconds === null ? [] : [agent.avgTaskSeconds])).sort((x, y) => x - y);
        const mid = Math.floor(known.length / 2);
        const medianSeconds = known.length === 0 ? 1 : known.length % 2 ? known[mid]! : (known[mid - 1]! + known[mid]!) / 2;
        const byId = new Map(agents.map((agent) => [agent.id, agent]));
        for (const task of tasks) {
          const eligible = eligibleIds(agents, task.requires);
          const chosen = forSeq(plan.assignments, task.seq).map((assignment) => assignment.agentId);
          const others = eligible.filter((id) => !chosen.includes(id));
          for (const id of chosen) {
            for (const other of strategy === 'hybrid' ? others : eligible) {
              if (strategy === 'least-loaded' || strategy === 'hybrid') expect(load.get(id)!).toBeLessThanOrEqual(load.get(other)!);
              if (strategy === 'capability-match') {
                const spare = (agentId: string) => byId.get(agentId)!.capabilities.filter((tag) => !task.requires.includes(tag)).length;
                expect(spare(id)).toBeLessThanOrEqual(spare(other));
                if (spare(id) === spare(other)) expect(load.get(id)!).toBeLessThanOrEqual(load.get(other)!);
              }
              if (strategy === 'centralized') {
                const finish = (agentId: string) => (load.get(agentId)! + 1) * (byId.get(agentId)!.avgTaskSeconds ?? medianSeconds);
                expect(finish(id)).toBeLessThanOrEqual(finish(other) + 1e-9);
              }
            }
          }
          for (const id of chosen) load.set(id, load.get(id)! + 1);
        }
      }),
      RUNS,
    );
  });
});

describe('planAssignments: examples', () => {
  it('least-loaded breaks ties by network order and sees its own earlier choices', () => {
    const agents = [candidate('a', { open: 1 }), candidate('b', { open: 0 }), candidate('c', { open: 0 })];
    const plan = planAssignments(subtasks(4), agents, { strategy: 'least-loaded', cursor: 0, replication: 1 });
    expect(plan.assignments.map((a) => a.agentId)).toEqual(['b', 'c', 'a', 'b']);
    expect(agents.map((agent) => agent.open)).toEqual([1, 0, 0]);
  });

  it('round-robin skips agents that cannot take the subtask and moves the cursor past the chosen one', () => {
    const agents = [candidate('a'), candidate('b', { capabilities: ['gpu'] }), candidate('c')];
    const plan = planAssignments(subtasks(2, ['gpu']), agents, { strategy: 'round-robin', cursor: 2, replication: 1 });
    expect(plan.assignments.map((a) => a.agentId)).toEqual(['b', 'b']);
    expect(plan.cursor).toBe(2);
  });

  it('prefers live agents, but gives work to absent ones when no capable agent is live', () => {
    const agents = [candidate('absent', { live: false, capabilities: ['gpu'] }), candidate('live')];
    const plan = planAssignments([...subtasks(1), { seq: 1, payload: 1, requires: ['gpu'] }], agents, {
      strategy: 'least-loaded',
      cursor: 0,
      replication: 1,
    });
    expect(plan.assignments.map((a) => a.agentId)).toEqual(['live', 'absent']);
  });

  it('capability-match keeps the generalist free', () => {
    const agents = [
      candidate('generalist', { capabilities: ['gpu', 'llm', 'ocr'] }),
      candidate('specialist', { capabilities: ['gpu'], open: 3 }),
    ];
    const plan = planAssignments(subtasks(1, ['gpu']), agents, { strategy: 'capability-match', cursor: 0, replication: 1 });
    expect(plan.assignments[0]!.agentId).toBe('specialist');
  });

  it('centralized picks the earliest expected finish, using the median speed for agents without history', () => {
    const agents = [
      candidate('slow', { avgTaskSeconds: 10 }),
      candidate('fast', { avgTaskSeconds: 2, open: 2 }),
      candidate('new', { avgTaskSeconds: null, open: 0 }),
    ];
    // finishes: slow 10, fast 6, new (median of 10 and 2 = 6) 6 → tie on 6, fewer open wins: new
    const plan = planAssignments(subtasks(3), agents, { strategy: 'centralized', cursor: 0, replication: 1 });
    // then: new 12, fast 6 → fast (8 after); then slow 10, fast 8, new 12 → fast
    expect(plan.assignments.map((a) => a.agentId)).toEqual(['new', 'fast', 'fast']);
  });

  it('hybrid gives distinct least-loaded agents, decentralized every eligible agent', () => {
    const agents = [candidate('a', { open: 5 }), candidate('b', { open: 1 }), candidate('c', { open: 0 }), candidate('d', { live: false })];
    const hybrid = planAssignments(subtasks(1), agents, { strategy: 'hybrid', cursor: 0, replication: 2 });
    expect(hybrid.assignments).toEqual([
      { seq: 0, replica: 0, agentId: 'c' },
      { seq: 0, replica: 1, agentId: 'b' },
    ]);
    const everyone = planAssignments(subtasks(1), agents, { strategy: 'decentralized', cursor: 0, replication: 2 });
    expect(everyone.assignments.map((a) => a.agentId)).toEqual(['a', 'b', 'c']);
  });

  it('throws NoCapableAgentError naming the subtask and its requirements', () => {
    const tasks = [...subtasks(1), { seq: 1, payload: null, requires: ['tpu'] }];
    expect(() =>
      planAssignments(tasks, [candidate('a', { capabilities: ['gpu'] })], { strategy: 'round-robin', cursor: 0, replication: 1 }),
    ).toThrow(expect.objectContaining({ name: 'NoCapableAgentError', seq: 1, requires: ['tpu'] }));
  });
});

describe('chooseAgent', () => {
  it('never picks an excluded agent, picks an avoided one only when nobody else is capable, and prefers live ones', () => {
    fc.assert(
      fc.property(
        strategyArb,
        agentsArb,
        fc.subarray(TAGS, { maxLength: 2 }),
        fc.nat(50),
        fc.func(fc.constantFrom('exclude', 'avoid', 'none')),
        (strategy, agents, requires, cursor, role) => {
          const exclude = agents.filter((agent) => role(agent.id) === 'exclude').map((agent) => agent.id);
          const avoid = agents.filter((agent) => role(agent.id) === 'avoid').map((agent) => agent.id);
          const result = chooseAgent(strategy, requires, agents, { cursor, exclude, avoid });
          const allowed = agents.filter((agent) => isCapable(agent, requires) && !exclude.includes(agent.id));
          if (allowed.length === 0) {
            expect(result).toEqual({ agentId: null, cursor });
            return;
          }
          const chosen = agents.find((agent) => agent.id === result.agentId)!;
          expect(chosen).toBeDefined();
          expect(allowed).toContain(chosen);
          const unavoided = allowed.filter((agent) => !avoid.includes(agent.id));
          if (avoid.includes(chosen.id)) expect(unavoided).toEqual([]);
          const pool = unavoided.length > 0 ? unavoided : allowed;
          if (!chosen.live) expect(pool.some((agent) => agent.live)).toBe(false);
          if (strategy === 'round-robin') expect(result.cursor).toBe(agents.indexOf(chosen) + 1);
          else expect(result.cursor).toBe(cursor);
        },
      ),
      RUNS,
    );
  });

  it('falls back to the avoided agent when it is the only one left', () => {
    const agents = [candidate('a'), candidate('b'), candidate('c')];
    expect(chooseAgent('least-loaded', [], agents, { cursor: 0, exclude: ['a', 'b'], avoid: ['c'] }).agentId).toBe('c');
    expect(chooseAgent('least-loaded', [], agents, { cursor: 0, exclude: ['a'], avoid: ['c'] }).agentId).toBe('b');
    expect(chooseAgent('hybrid', [], agents, { cursor: 0, exclude: ['a', 'b', 'c'], avoid: [] }).agentId).toBeNull();
  });

  it('round-robin continues from the cursor', () => {
    const agents = [candidate('a'), candidate('b'), candidate('c')];
    expect(chooseAgent('round-robin', [], agents, { cursor: 4, exclude: [], avoid: [] })).toEqual({ agentId: 'b', cursor: 2 });
    expect(chooseAgent('round-robin', [], agents, { cursor: 4, exclude: ['b'], avoid: [] })).toEqual({ agentId: 'c', cursor: 3 });
  });
});

// Swarm members really doing the work: a server, `aitbc swarm work` processes
// running a small real script for each member, and tasks coordinated through
// the `aitbc` executable. A consensus task is decided by the members' votes
// (one of them dissents and loses reputation), a map-reduce task processes
// every item exactly once, and a member killed mid-task loses nothing: its
// lease expires and another member does the work.
import type { ChildProcessByStdio } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { ConsensusView, CoordinateView, JoinView, MemberView, TaskStatusView } from '@aitbc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../../server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../server/test/support/server.ts';
import { aitbc, ok, until, spawnAitbc, tempHome } from './support/aitbc.ts';

const script = fileURLToPath(new URL('./fixtures/swarm-answer.mjs', import.meta.url));
const MAJORITY = { answer: 42 };
const DISSENT = { answer: 43 };

interface Worker {
  name: string;
  memberId: string;
  log: string;
  child: ChildProcessByStdio<null, Readable, Readable>;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

describe.each(databaseKinds)('swarm members doing coordinated work on %s', (kind) => {
  let srv: TestServer;
  const home = tempHome();
  let env: Record<string, string>;
  const workers: Worker[] = [];
  let swarmId: string;
  const cli = (args: string[]) => aitbc(args, { home: home.home, env });
  const json = async <T>(args: string[]): Promise<T> => JSON.parse(ok(await cli([...args, '-o', 'json']))) as T;

  const join_ = (capability: string) => json<JoinView>(['swarm', 'join', '--role', 'monitor', '--capability', capability]);

  function startWorker(name: string, memberId: string, extraEnv: Record<string, string> = {}): Worker {
    const log = join(home.home, `${name}.log`);
    writeFileSync(log, '');
    const child = spawnAitbc(
      ['swarm', 'work', '--member', memberId, '--exec', `"${process.execPath}" "${script}"`, '--poll-interval', '0.1'],
      {
        home: home.home,
        env: { ...env, WORK_LOG: log, ...extraEnv },
      },
    );
    const worker: Worker = {
      name,
      memberId,
      log,
      child,
      stdout: '',
      stderr: '',
      exited: new Promise((r) => child.on('exit', (code) => r(code))),
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (worker.stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (worker.stderr += d));
    workers.push(worker);
    return worker;
  }

  /** The items each worker logged for one task. */
  function itemsFor(taskId: string): Map<string, number[]> {
    return new Map(
      workers.map((w) => [
        w.name,
        readFileSync(w.log, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith(`${taskId} `))
          .map((l) => Number(l.split(' ')[2])),
      ]),
    );
  }

  const finished = (taskId: string) =>
    until(
      `task ${taskId} to finish`,
      async () => {
        const t = await json<TaskStatusView>(['swarm', 'status', taskId]);
        return ['completed', 'failed', 'cancelled', 'timed_out'].includes(t.status) ? t : undefined;
      },
      30_000,
    );

  beforeAll(async () => {
    srv = await startTestServer(kind);
    env = { AITBC_URL: srv.url, AITBC_API_KEY: await srv.keyFor('alice') };
    // The first join makes the swarm for gpu; the others land in it.
    const first = await join_('gpu');
    const rest = await Promise.all(Array.from({ length: 4 }, () => join_('gpu')));
    const members = [first, ...rest];
    swarmId = first.swarm_id;
    expect(members.map((m) => m.swarm_id)).toEqual(Array(5).fill(swarmId));
    // The fifth member's command answers differently: the dissenter.
    for (const [i, m] of members.entries()) startWorker(`gpu${i + 1}`, m.member_id, i === 4 ? { ANSWER: String(DISSENT.answer) } : {});
  });

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    // The hanging command outlives its killed worker (its own process group): end it too.
    for (const w of workers) {
      if (!existsSync(`${w.log}.started`)) continue;
      try {
        process.kill(Number(readFileSync(`${w.log}.started`, 'utf8')), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await srv?.close();
    home.remove();
  });

  it('consensus: five members vote, four agree; the decision, its confidence and the reputations follow', async () => {
    // Each worker's first heartbeat marks its member active; on a loaded machine a worker can start later than its
    // member's suspect threshold after the join, and coordinate would rightly refuse a suspect member.
    await until('all five members active', async () => {
      const { members } = await json<{ members: MemberView[] }>(['swarm', 'members', swarmId]);
      return members.length === 5 && members.every((m) => m.status === 'active') ? true : undefined;
    });
    const coordinated = await json<CoordinateView>([
      'swarm',
      'coordinate',
      '--task',
      'what is 6*7',
      '--strategy',
      'consensus',
      '--collaborators',
      '5',
      '--timeout',
      '60',
    ]);
    expect(coordinated).toMatchObject({
      swarm_id: swarmId,
      coordination_strategy: 'consensus',
      collaborators: 5,
      consensus_algorithm: 'majority-vote',
      subtasks: 1,
    });
    expect([...coordinated.assigned_members].sort()).toEqual(workers.map((w) => w.memberId).sort());

    const done = await finished(coordinated.task_id);
    expect(done.status).toBe('completed');
    expect(done.result).toEqual(MAJORITY);
    expect(done.progress).toBe(100);
    expect(done.members.map((m) => m.state)).toEqual(Array(5).fill('done'));

    const dissenter = workers[4]!.memberId;
    const decision = await json<ConsensusView>(['swarm', 'consensus', '--task-id', coordinated.task_id, '--algorithm', 'majority-vote']);
    expect(decision).toMatchObject({
      task_id: coordinated.task_id,
      consensus_algorithm: 'majority-vote',
      consensus_reached: true,
      status: 'reached',
      confidence_score: 0.8,
      dissenting_members: [dissenter],
      expected_votes: 5,
      result: { final_answer: MAJORITY },
    });
    expect(decision.votes.map((v) => [v.count, v.members.length])).toEqual([
      [4, 4],
      [1, 1],
    ]);

    // The legacy form, as a table: the decision and the vote table with the winner marked.
    const table = ok(await cli(['swarm', 'consensus', coordinated.task_id]));
    expect(table).toMatch(/^consensus_reached: +true$/m);
    expect(table).toMatch(/^confidence: +0\.8$/m);
    expect(table).toMatch(/^winner: +\{"answer":42\}$/m);
    expect(table).toMatch(/^RESULT +COUNT +WEIGHT +MEMBERS +WINNER$/m);
    expect(table).toMatch(/^\{"answer":42\} +4 +4\.000 +4 +\*$/m);
    expect(table).toMatch(/^\{"answer":43\} +1 +1\.000 +1$/m);

    const { members } = await json<{ members: MemberView[] }>(['swarm', 'members', swarmId]);
    const reputation = new Map(members.map((m) => [m.member_id, m.reputation]));
    expect(reputation.get(dissenter)).toBeLessThan(0.5);
    for (const w of workers.slice(0, 4)) expect(reputation.get(w.memberId)).toBeGreaterThan(0.5);
    // Their claims were their heartbeats: every member is active and was seen recently.
    expect(members.every((m) => m.status === 'active' && m.seconds_since_heartbeat !== null && m.seconds_since_heartbeat < 15)).toBe(true);
  });

  it('map-reduce: 24 items over five members, each processed exactly once, reduced to the right sum', async () => {
    const items = Array.from({ length: 24 }, (_, i) => i + 1);
    const coordinated = await json<CoordinateView>([
      'swarm',
      'coordinate',
      '--task-id',
      `sum-${kind}`,
      '--strategy',
      'map-reduce',
      '--items',
      JSON.stringify(items),
      '--reduce',
      'sum',
      '--collaborators',
      '5',
      // One chunk per member, as planned: no member takes another's chunk or a backup of it (stragglers.test.ts covers those).
      '--parameters',
      '{"work_stealing": false, "speculation": false}',
    ]);
    expect(coordinated).toMatchObject({ task_id: `sum-${kind}`, coordination_strategy: 'map-reduce', collaborators: 5, subtasks: 5 });

    const done = await finished(coordinated.task_id);
    expect(done.status).toBe('completed');
    expect(done.result).toMatchObject({ reduce: 'sum', reduced: 2 * items.reduce((a, b) => a + b, 0), reduce_error: null });

    const logged = itemsFor(coordinated.task_id);
    expect([...logged.values()].flat().sort((a, b) => a - b)).toEqual(items);
    // One chunk per member.
    expect([...logged.values()].map((l) => l.length > 0)).toEqual(Array(5).fill(true));
    expect(done.members.map((m) => [m.subtasks, m.completed])).toEqual(Array(5).fill([1, 1]));

    const status = ok(await cli(['swarm', 'status', coordinated.task_id]));
    expect(status).toMatch(/^status: +completed$/m);
    expect(status).toMatch(/^reduced: +600$/m);
  });

  it('a member killed mid-task loses nothing: its lease expires and the other member does the work, each item once', async () => {
    const hanging = await join_('slow');
    const steady = await join_('slow');
    expect(steady.swarm_id).toBe(hanging.swarm_id);
    const hang = startWorker('hang', hanging.member_id, { WORK_SLOW: '30' });
    startWorker('steady', steady.member_id);

    const items = Array.from({ length: 10 }, (_, i) => i + 1);
    const coordinated = await json<CoordinateView>([
      'swarm',
      'coordinate',
      '--strategy',
      'distributed',
      '--capability',
      'slow',
      '--collaborators',
      '2',
      '--items',
      JSON.stringify(items),
      // The lease expiry alone moves the shard (with stealing on, steady could take it before hang claims it).
      '--parameters',
      '{"lease_seconds": 2, "work_stealing": false, "speculation": false}',
    ]);
    expect(coordinated).toMatchObject({ swarm_id: hanging.swarm_id, subtasks: 2 });
    expect([...coordinated.assigned_members].sort()).toEqual([hanging.member_id, steady.member_id].sort());

    await until('the hanging member to start its shard', () => (existsSync(`${hang.log}.started`) ? true : undefined));
    hang.child.kill('SIGKILL');
    expect(await hang.exited).toBe(null);

    const done = await finished(coordinated.task_id);
    expect(done.status).toBe('completed');
    const chunks = [items.slice(0, 5), items.slice(5)];
    expect(done.result).toEqual(chunks.map((c) => 2 * c.reduce((a, b) => a + b, 0)));
    const logged = itemsFor(coordinated.task_id);
    expect(logged.get('hang')).toEqual([]);
    expect([...logged.get('steady')!].sort((a, b) => a - b)).toEqual(items);
    const byMember = new Map(done.members.map((m) => [m.member_id, m]));
    expect(byMember.get(hanging.member_id)).toMatchObject({ state: 'reassigned', completed: 0 });
    expect(byMember.get(steady.member_id)).toMatchObject({ state: 'done', subtasks: 2, completed: 2 });
  });

  it('SIGTERM stops the workers cleanly, each printing what it did', async () => {
    const running = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
    expect(running.map((w) => w.name)).toEqual(['gpu1', 'gpu2', 'gpu3', 'gpu4', 'gpu5', 'steady']);
    for (const w of running) w.child.kill('SIGTERM');
    expect(await Promise.all(running.map((w) => w.exited))).toEqual(Array(running.length).fill(0));
    for (const w of running) {
      // gpu members: a vote and a chunk each; steady: its own shard and the one it took over.
      expect(w.stdout).toBe(`member_id: ${w.memberId}\nclaimed:   2\ncompleted: 2\nfailed:    0\nlost:      0\n`);
      expect(w.stderr).toMatch(/^aitbc work: member \S+: working with 1 slot\(s\)/);
      expect(w.stderr).toMatch(/aitbc work: subtask \S+ \(task \S+, seq \d+.*\): completed in [\d.]+ s/);
    }
  });
});

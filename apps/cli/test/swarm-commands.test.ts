// The `swarm` run functions, called directly against a real server in this
// process, and what their renderers make of the answers.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AitbcClient, createClient, describeError } from '@aitbc/client';
import type { SwarmRole } from '@aitbc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../../server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../server/test/support/server.ts';
import { runSwarmCancel } from '../src/cmd/swarm/cancel.ts';
import { renderConsensus, runSwarmConsensus } from '../src/cmd/swarm/consensus.ts';
import { parametersFrom, renderCoordination, runSwarmCoordinate } from '../src/cmd/swarm/coordinate.ts';
import { runSwarmHeartbeat } from '../src/cmd/swarm/heartbeat.ts';
import { runSwarmJoin } from '../src/cmd/swarm/join.ts';
import { renderLeave, runSwarmLeave } from '../src/cmd/swarm/leave.ts';
import { renderSwarmList, runSwarmList } from '../src/cmd/swarm/list.ts';
import { renderSwarmMembers, runSwarmMembers } from '../src/cmd/swarm/members.ts';
import {
  renderSwarmStatus,
  renderTaskStatus,
  runSwarmStatus,
  runSwarmTaskStatus,
  taskProgress,
  watchSwarmStatus,
  watchSwarmTask,
} from '../src/cmd/swarm/status.ts';
import { runSwarmWork } from '../src/cmd/swarm/work.ts';
import { explainFailure, UsageError } from '../src/failure.ts';
import { CLEAR_SCREEN } from '../src/progress.ts';

const never = new AbortController().signal;

describe.each(databaseKinds)('swarm commands on %s', (kind) => {
  let srv: TestServer;
  let alice: { client: AitbcClient };
  const dir = mkdtempSync(join(tmpdir(), 'aitbc-swarm-'));

  /** `n` members with this capability (so, in their own swarm); returns the swarm id and member ids. */
  async function swarmOf(capability: string, n: number): Promise<{ swarmId: string; members: string[] }> {
    const members: string[] = [];
    let swarmId = '';
    for (let i = 0; i < n; i++) {
      const joined = await runSwarmJoin({ role: 'monitor', capability }, alice);
      swarmId = joined.swarm_id;
      members.push(joined.member_id);
    }
    return { swarmId, members };
  }

  /** Runs one member's worker in this process for `n` subtasks of `exec`. */
  const work = (member: string, exec: string, n = 1) =>
    runSwarmWork({ member, exec, maxSubtasks: n, pollInterval: 0.05 }, { ...alice, log: () => {}, stop: never, abandon: never });

  beforeAll(async () => {
    srv = await startTestServer(kind);
    alice = { client: createClient({ url: srv.url, apiKey: await srv.keyFor('alice') }) };
  });
  afterAll(() => srv?.close());

  it('join validates the role, naming the valid ones; joins without --swarm-id land in one swarm per capability, whatever the region', async () => {
    const refused = runSwarmJoin({ role: 'boss' as SwarmRole, capability: 'cpu' }, alice);
    await expect(refused).rejects.toThrow('Invalid role. Must be one of: load-balancer, resource-optimizer, task-coordinator, monitor');
    expect(explainFailure(await refused.catch((e) => e), srv.url).message).toBe(
      'invalid input: --role: Invalid role. Must be one of: load-balancer, resource-optimizer, task-coordinator, monitor',
    );

    const first = await runSwarmJoin({ role: 'load-balancer', capability: 'cpu', priority: 'high' }, alice);
    expect(first).toMatchObject({
      role: 'load-balancer',
      capability: 'cpu',
      region: null,
      priority: 'high',
      status: 'active',
      reputation: 0.5,
    });
    const second = await runSwarmJoin({ role: 'monitor', capability: 'cpu' }, alice);
    const third = await runSwarmJoin({ role: 'task-coordinator', capability: 'cpu', swarmId: first.swarm_id }, alice);
    expect([second.swarm_id, third.swarm_id]).toEqual([first.swarm_id, first.swarm_id]);
    const elsewhere = await runSwarmJoin({ role: 'monitor', capability: 'cpu', region: 'eu' }, alice);
    expect(elsewhere).toMatchObject({ swarm_id: first.swarm_id, region: 'eu' });

    await expect(
      runSwarmJoin({ role: 'monitor', capability: 'cpu', swarmId: first.swarm_id, suspectAfter: 30, failAfter: 10 }, alice),
    ).rejects.toThrow('fail_after_seconds (10) must be at least suspect_after_seconds (30)');
    const tuned = await runSwarmJoin(
      { role: 'monitor', capability: 'cpu', swarmId: first.swarm_id, suspectAfter: 20, failAfter: 60 },
      alice,
    );
    const [swarm] = (await runSwarmList({ swarmId: tuned.swarm_id }, alice)).swarms;
    expect(swarm).toMatchObject({ suspect_after_seconds: 20, fail_after_seconds: 60, member_counts: { active: 5 } });
  });

  it('list and members render the swarms and their members; a heartbeat keeps a member active', async () => {
    const { swarmId, members } = await swarmOf('render', 2);
    const list = await runSwarmList({ swarmId }, alice);
    expect(list).toMatchObject({
      total_count: 1,
      next_cursor: null,
      swarms: [{ swarm_id: swarmId, capability: 'render', status: 'active' }],
    });
    const shown = renderSwarmList(list);
    expect(shown).toMatch(/^ID +CAPABILITY +STATUS +MEMBERS +COORDINATION$/m);
    expect(shown).toMatch(new RegExp(`^${swarmId} +render +active +2/2 +idle$`, 'm'));
    expect(shown.endsWith('1 of 1 swarm\n')).toBe(true);

    const all = await runSwarmList({}, alice);
    expect(all.swarms.length).toBe(Math.min(all.total_count, 20));
    const paged = await runSwarmList({ limit: 1 }, alice);
    expect(paged.swarms).toHaveLength(1);
    expect(renderSwarmList(paged)).toMatch(
      new RegExp(`^1 of ${all.total_count} swarms\\nnext page: aitbc swarm list --cursor \\S+\\n$`, 'm'),
    );
    expect((await runSwarmList({ status: 'empty' }, alice)).swarms).toEqual([]);

    const beat = await runSwarmHeartbeat({ memberId: members[0]! }, alice);
    expect(beat).toMatchObject({ member_id: members[0], swarm_id: swarmId, status: 'active' });

    const view = await runSwarmMembers({ swarmId }, alice);
    expect(view.members.map((m) => m.member_id)).toEqual(members);
    const table = renderSwarmMembers(view);
    expect(table).toMatch(/^MEMBER +ROLE +CAPABILITY +REGION +STATUS +REPUTATION +LAST SEEN$/m);
    expect(table).toMatch(new RegExp(`^${members[0]} +monitor +render +- +active +0\\.500 +\\d+(\\.\\d)? s ago$`, 'm'));
    expect(table.endsWith(`2 members: 2 active, 0 suspect, 0 failed, 0 left in swarm ${swarmId}\n`)).toBe(true);

    await expect(runSwarmMembers({ swarmId: 'swarm_nope' }, alice)).rejects.toThrow('Swarm swarm_nope not found');
  });

  it('leave: the legacy argument and the spec flag; leaving twice is a clear 409, not a crash', async () => {
    const { swarmId, members } = await swarmOf('leaving', 3);
    await expect(runSwarmLeave({ swarm: swarmId, swarmId: 'swarm_other' }, alice)).rejects.toThrow(UsageError);
    await expect(runSwarmLeave({}, alice)).rejects.toThrow(/missing the swarm id/);

    // Asked, and declined: nothing leaves. --yes does not ask.
    const asked: string[] = [];
    const no = async (question: string) => {
      asked.push(question);
      return false;
    };
    await expect(runSwarmLeave({ swarmId, memberId: members[0]! }, { ...alice, confirm: no })).rejects.toThrow(
      `aborted: nothing left swarm ${swarmId}`,
    );
    expect(asked).toEqual([`Leave swarm ${swarmId} (member ${members[0]})?`]);
    expect((await runSwarmMembers({ swarmId }, alice)).member_counts).toMatchObject({ active: 3, left: 0 });

    const one = await runSwarmLeave({ swarmId, memberId: members[0]!, yes: true }, { ...alice, confirm: no });
    expect(one).toMatchObject({ swarm_id: swarmId, member_id: members[0], status: 'left', members: [members[0]], requeued_subtasks: 0 });
    expect(asked).toHaveLength(1);
    expect(renderLeave(one)).toMatch(new RegExp(`^Left swarm ${swarmId}: 1 member\\.\\n  ${members[0]}\\n\\nleft_at: +\\S+`));

    // The legacy form: every one of yours that is still there.
    const rest = await runSwarmLeave({ swarm: swarmId }, alice);
    expect(rest.members).toEqual(members.slice(1));
    // Both forms at once, agreeing, are fine; leaving again is the server's 409.
    const again = await runSwarmLeave({ swarm: swarmId, swarmId }, alice).catch((e: unknown) => e);
    expect(describeError(again)).toMatchObject({ code: 'CONFLICT', httpStatus: 409 });
    expect(explainFailure(again, srv.url)).toMatchObject({
      message: `Every one of your members in swarm ${swarmId} has already left`,
      exitCode: 1,
    });
    await expect(runSwarmLeave({ swarmId, memberId: members[0]! }, alice)).rejects.toThrow(`Swarm member ${members[0]} has already left`);

    const view = await runSwarmMembers({ swarmId }, alice);
    expect(view.member_counts).toEqual({ active: 0, suspect: 0, failed: 0, left: 3 });
    expect(view.members.every((m) => m.status === 'left' && m.left_at !== null && m.seconds_since_heartbeat === null)).toBe(true);
    expect(renderSwarmMembers(view)).toMatch(new RegExp(`^${members[1]} +monitor +leaving +- +left +0\\.500 +-$`, 'm'));
    expect((await runSwarmList({ swarmId }, alice)).swarms[0]).toMatchObject({ status: 'empty', members: [] });
    await expect(runSwarmHeartbeat({ memberId: members[0]! }, alice)).rejects.toThrow(/left swarm .*join again for a new member id/);
  });

  it('coordinate sends only what was given: spec strategies select 3 members, legacy ones 5; too few is an error naming what is missing', async () => {
    const { swarmId, members } = await swarmOf('vote', 5);

    const legacy = await runSwarmCoordinate({ task: 'what is 6*7', strategy: 'consensus', timeout: 3600, swarmId }, { ...alice, cwd: dir });
    expect(legacy).toMatchObject({
      swarm_id: swarmId,
      coordination_strategy: 'consensus',
      status: 'queued',
      collaborators: 5,
      consensus_algorithm: 'majority-vote',
      subtasks: 1,
    });
    expect([...legacy.assigned_members].sort()).toEqual([...members].sort());
    expect(legacy.task_id).toMatch(/^task_/);

    const spec = await runSwarmCoordinate({ taskId: 'task123', strategy: 'map-reduce', swarmId }, { ...alice, cwd: dir });
    expect(spec).toMatchObject({
      task_id: 'task123',
      coordination_strategy: 'map-reduce',
      collaborators: 3,
      consensus_algorithm: null,
      subtasks: 1,
    });
    expect(spec.assigned_members).toHaveLength(3);
    // No strategy: the spec's default, map-reduce, over 3 members; the items split one chunk per member.
    const byDefault = await runSwarmCoordinate({ items: '[1,2,3,4,5,6]', reduce: 'sum', capability: 'vote' }, { ...alice, cwd: dir });
    expect(byDefault).toMatchObject({ swarm_id: swarmId, coordination_strategy: 'map-reduce', collaborators: 3, subtasks: 3 });

    const shown = renderCoordination(legacy);
    expect(shown).toMatch(/^strategy: +consensus$/m);
    expect(shown).toMatch(/^assigned members \(5\):$/m);
    expect(shown).toContain(`follow it: aitbc swarm status ${legacy.task_id} --watch`);

    await expect(runSwarmCoordinate({ taskId: 'task123', swarmId }, { ...alice, cwd: dir })).rejects.toThrow(
      'Task task123 already exists; use another task_id',
    );
    await expect(runSwarmCoordinate({ strategy: 'consensus', collaborators: 6, swarmId }, { ...alice, cwd: dir })).rejects.toThrow(
      `Cannot coordinate: needs 6 active members; 5 are eligible in swarm ${swarmId}`,
    );
    const missing = await runSwarmCoordinate(
      { strategy: 'leader-election', capability: 'fpga', role: 'monitor' },
      { ...alice, cwd: dir },
    ).catch((e: unknown) => e);
    expect(describeError(missing)).toMatchObject({ code: 'CONFLICT', httpStatus: 409 });
    expect(explainFailure(missing, srv.url).message).toMatch(/^Cannot coordinate: /);
  });

  it('coordinate merges --parameters with the flags that name a parameter, the flags winning', async () => {
    writeFileSync(join(dir, 'params.json'), JSON.stringify({ reduce: 'concat', chunk_size: 2, lease_seconds: 5 }));
    writeFileSync(join(dir, 'items.json'), '[1, 2, 3]');
    const merged = await parametersFrom(
      {
        parameters: '@params.json',
        items: '@items.json',
        reduce: 'sum',
        capability: 'gpu',
        region: 'eu',
        role: 'monitor',
        algorithm: 'weighted',
        threshold: 0.6,
      },
      dir,
    );
    expect(merged).toEqual({
      reduce: 'sum',
      chunk_size: 2,
      lease_seconds: 5,
      items: [1, 2, 3],
      capability: 'gpu',
      region: 'eu',
      role: 'monitor',
      consensus_algorithm: 'weighted',
      consensus_threshold: 0.6,
    });
    expect(await parametersFrom({}, dir)).toEqual({});
    await expect(parametersFrom({ parameters: '{"reduce":' }, dir)).rejects.toThrow(/^--parameters is not valid JSON/);
    await expect(parametersFrom({ parameters: '[1]' }, dir)).rejects.toThrow(
      '--parameters must be a JSON object (e.g. {"reduce": "sum"}), not an array',
    );
    await expect(parametersFrom({ items: '{"a":1}' }, dir)).rejects.toThrow(UsageError);
    await expect(parametersFrom({ items: '@nothing.json' }, dir)).rejects.toThrow(
      'cannot read the --items file nothing.json: no such file',
    );
  });

  it('consensus is pending while votes are outstanding, then decided by the votes; the views show the vote table', async () => {
    const { swarmId, members } = await swarmOf('quorum', 3);
    await runSwarmCoordinate(
      { taskId: 'q1', strategy: 'consensus', collaborators: 3, swarmId, parameters: '{"payload": {"q": "6*7"}}' },
      { ...alice, cwd: dir },
    );

    const waiting = await runSwarmConsensus({ taskId: 'q1' }, alice);
    expect(waiting).toMatchObject({
      status: 'pending',
      consensus_reached: false,
      result: null,
      votes: [],
      expected_votes: 3,
      confidence_score: null,
    });
    expect(waiting.reason).toMatch(/^waiting for 3 of 3 votes until /);
    expect(renderConsensus(waiting)).toMatch(/^consensus_reached: +false\nstatus: +pending\n(.*\n)*no votes yet\n$/m);

    // Two votes in, one outstanding: still pending, with the tally so far.
    const agree = `echo '{"answer":42}'`;
    const summaries = await Promise.all([work(members[0]!, agree), work(members[1]!, agree)]);
    expect(summaries.map((s) => s.completed)).toEqual([1, 1]);
    const partial = await runSwarmConsensus({ taskId: 'q1', algorithm: 'majority-vote' }, alice);
    expect(partial).toMatchObject({ status: 'pending', consensus_reached: false, votes: [{ count: 2, preview: '{"answer":42}' }] });
    expect(renderConsensus(partial)).toMatch(/^\{"answer":42\} +2 +2\.000 +2$/m);
    const running = await runSwarmTaskStatus({ taskId: 'q1' }, alice);
    expect(running).toMatchObject({ status: 'running', progress: 66.7, active_collaborators: 3, total_collaborators: 3 });
    expect(taskProgress(running)).toBe('[######....] 66.7%  running  3/3 collaborators active');

    // The last vote dissents: decided, 2 of 3.
    expect(await work(members[2]!, `echo '{"answer":43}'`)).toMatchObject({ member_id: members[2], claimed: 1, completed: 1 });
    const decided = await runSwarmConsensus({ taskId: 'q1' }, alice);
    expect(decided).toMatchObject({
      status: 'reached',
      consensus_reached: true,
      result: { final_answer: { answer: 42 } },
      dissenting_members: [members[2]],
      participating_members: [...members].sort(),
    });
    expect(decided.confidence_score).toBeCloseTo(2 / 3, 10);
    const shown = renderConsensus(decided);
    expect(shown).toMatch(/^consensus_reached: +true$/m);
    expect(shown).toMatch(/^confidence: +0\.667$/m);
    expect(shown).toMatch(/^winner: +\{"answer":42\}$/m);
    expect(shown).toMatch(new RegExp(`^dissenting: +${members[2]}$`, 'm'));
    expect(shown).toMatch(/^RESULT +COUNT +WEIGHT +MEMBERS +WINNER\n\{"answer":42\} +2 +2\.000 +2 +\*\n\{"answer":43\} +1 +1\.000 +1\n$/m);

    const task = await runSwarmTaskStatus({ taskId: 'q1' }, alice);
    expect(task).toMatchObject({ status: 'completed', progress: 100, result: { answer: 42 } });
    const view = renderTaskStatus(task);
    expect(view).toMatch(/^status: +completed$/m);
    expect(view).toMatch(/^progress: +100%$/m);
    expect(view).toMatch(/^result: +\{"answer":42\}$/m);
    expect(view).toMatch(/^MEMBER +MEMBERSHIP +STATE +SUBTASKS +COMPLETED$/m);
    expect(view).toMatch(new RegExp(`^${members[0]} +active +done +1 +1$`, 'm'));
    expect(view).toMatch(/^consensus: reached \(majority-vote, confidence 0\.667; 3 of 3 votes\)$/m);
    expect(view).toMatch(/^\{"answer":42\} +2 +2\.000 +2 +\*$/m);

    // The legacy form only asks what a threshold vote says; the task keeps its own algorithm.
    const asked = await runSwarmConsensus({ task: 'q1', consensusThreshold: 0.7 }, alice);
    expect(asked).toMatchObject({ task_id: 'q1', consensus_algorithm: 'threshold', consensus_threshold: 0.7, consensus_reached: false });
    expect((await runSwarmConsensus({ task: 'q1' }, alice)).consensus_algorithm).toBe('majority-vote');
    await runSwarmCoordinate({ taskId: 'q2', strategy: 'consensus', collaborators: 3, swarmId }, { ...alice, cwd: dir });
    const legacy = await runSwarmConsensus({ task: 'q2', consensusThreshold: 0.6 }, alice);
    expect(legacy).toMatchObject({ task_id: 'q2', consensus_algorithm: 'threshold', consensus_threshold: 0.6, status: 'pending' });
    expect(renderConsensus(legacy)).toMatch(/^algorithm: +threshold \(threshold 0\.6\)$/m);
    await expect(runSwarmConsensus({ task: 'q2', taskId: 'q1' }, alice)).rejects.toThrow(UsageError);
    await expect(runSwarmConsensus({}, alice)).rejects.toThrow(/missing the task id/);

    const cancelled = await runSwarmCancel({ taskId: 'q2' }, alice);
    expect(cancelled).toMatchObject({ task_id: 'q2', status: 'cancelled' });
    expect(cancelled.members.map((m) => m.state)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    await expect(runSwarmCancel({ taskId: 'q2' }, alice)).rejects.toThrow('Task q2 is already cancelled');
    await expect(runSwarmTaskStatus({ taskId: 'nope' }, alice)).rejects.toThrow('Task nope not found');
  });

  it('status --watch follows a task to its end with a progress line; swarm status is a table of figures', async () => {
    const { swarmId, members } = await swarmOf('watched', 2);
    const { task_id } = await runSwarmCoordinate(
      { strategy: 'map-reduce', collaborators: 2, items: '[1,2,3,4]', reduce: 'sum', swarmId },
      { ...alice, cwd: dir },
    );
    const lines: string[] = [];
    const watching = watchSwarmTask(
      { taskId: task_id },
      { ...alice, write: (t) => lines.push(t), tty: false, intervalMs: 20, signal: never },
    );
    const sum = `"${process.execPath}" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).items.reduce((a,b)=>a+b,0)))'`;
    await Promise.all(members.map((m) => work(m, sum)));
    const last = await watching;
    expect(last).toMatchObject({ status: 'completed', result: { reduce: 'sum', reduced: 10 } });
    expect(lines[0]).toMatch(/^\[.{10}\] [\d.]+% {2}(queued|running) {2}2\/2 collaborators active\n$/);
    expect(lines.at(-1)).toBe('[##########] 100%  completed  2/2 collaborators active\n');
    // Without a terminal, a line only when something changed.
    expect(new Set(lines).size).toBe(lines.length);

    // On a terminal the line is redrawn in place.
    const drawn: string[] = [];
    await watchSwarmTask({ taskId: task_id }, { ...alice, write: (t) => drawn.push(t), tty: true, intervalMs: 20, signal: never });
    expect(drawn).toEqual(['\r[##########] 100%  completed  2/2 collaborators active\x1b[K', '\n']);

    const status = await runSwarmStatus({ swarmId }, alice);
    expect(status).toMatchObject([{ swarm_id: swarmId, member_count: 2, active_tasks: 0, coordination_status: 'idle' }]);
    expect(status[0]!.performance_metrics).toMatchObject({
      success_rate: 1,
      coordination_efficiency: 1,
      sample: { tasks: 1, attempts: 2 },
    });
    const table = renderSwarmStatus(status);
    expect(table).toMatch(/^SWARM +MEMBERS +ACTIVE TASKS +COORDINATION +AVG TASK TIME +SUCCESS RATE +EFFICIENCY$/m);
    expect(table).toMatch(new RegExp(`^${swarmId} +2/2 +0 +idle +[\\d.]+ s +100% +100%$`, 'm'));
    // A swarm without finished work has no figures yet.
    const fresh = await swarmOf('fresh', 1);
    expect(renderSwarmStatus(await runSwarmStatus({ swarmId: fresh.swarmId }, alice))).toMatch(
      new RegExp(`^${fresh.swarmId} +1/1 +0 +idle +- +- +-$`, 'm'),
    );
    expect((await runSwarmStatus({}, alice)).length).toBeGreaterThan(2);
    expect(renderSwarmStatus([])).toMatch(/^no swarms/);

    const frames: string[] = [];
    const stop = new AbortController();
    const shown = await watchSwarmStatus(
      { swarmId },
      {
        ...alice,
        format: renderSwarmStatus,
        write: (text) => {
          frames.push(text);
          if (frames.length === 2) stop.abort();
        },
        tty: true,
        intervalMs: 10,
        signal: stop.signal,
      },
    );
    expect(shown).toBe(2);
    for (const frame of frames) expect(frame.startsWith(CLEAR_SCREEN + 'SWARM')).toBe(true);
  });

  it('a worker for a member that is not yours stops with the server’s refusal', async () => {
    const { members } = await swarmOf('mine', 1);
    const bob = { client: createClient({ url: srv.url, apiKey: await srv.keyFor('bob') }) };
    await expect(
      runSwarmWork({ member: members[0]!, exec: 'true' }, { ...bob, log: () => {}, stop: never, abandon: never }),
    ).rejects.toThrow(`Swarm member ${members[0]} not found`);
  });
});

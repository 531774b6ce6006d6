// Least privilege from the command line, through the `aitbc` executable: an
// owner issues a worker key for one agent, with an expiry; the worker runs
// that agent by name with it and can do nothing else; keys are rotated with a
// grace period (or none); and the audit log says who did what.
import type { ChildProcessByStdio } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { AuditEntry, CoordinateView, ExecutionView, JoinView, KeyView, MemberView, TaskStatusView, WhoAmI } from '@aitbc/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../../server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../server/test/support/server.ts';
import { aitbc, type CliRun, ok, spawnAitbc, tempHome, until } from './support/aitbc.ts';

const doubleItems = fileURLToPath(new URL('./fixtures/double-items.mjs', import.meta.url));
const swarmAnswer = fileURLToPath(new URL('./fixtures/swarm-answer.mjs', import.meta.url));

/** A failure: one `aitbc: …` line on stderr, nothing on stdout. */
function failed(run: CliRun, code = 1): string {
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/^aitbc: [^\n]+\n$/);
  expect(run.code).toBe(code);
  return run.stderr;
}

/** The key a table-mode `keys create` or `keys rotate` printed on its own line. */
function keyIn(text: string): string {
  return /^ {2}(aitbc_\S+)$/m.exec(text)![1]!;
}

interface Worker {
  child: ChildProcessByStdio<null, Readable, Readable>;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

describe.each(databaseKinds)('scoped keys from the command line on %s', (kind) => {
  let srv: TestServer;
  const home = tempHome();
  let alice: Record<string, string>;
  const workers: Worker[] = [];
  /** aitbc as alice, or with `key`. */
  const cli = (args: string[], key?: string) =>
    aitbc(args, { home: home.home, env: { AITBC_URL: srv.url, AITBC_API_KEY: key ?? alice.AITBC_API_KEY! } });
  const json = async <T>(args: string[], key?: string): Promise<T> => JSON.parse(ok(await cli([...args, '-o', 'json'], key))) as T;

  function startWorker(args: string[], key: string, env: Record<string, string> = {}): Worker {
    const child = spawnAitbc(args, { home: home.home, env: { AITBC_URL: srv.url, AITBC_API_KEY: key, ...env } });
    const worker: Worker = { child, stdout: '', stderr: '', exited: new Promise((r) => child.on('exit', (code) => r(code))) };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (worker.stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (worker.stderr += d));
    workers.push(worker);
    return worker;
  }

  let agentId: string;
  let workerKey: string;
  let workerKeyId: string;

  beforeAll(async () => {
    // Last use written every 50 ms rather than every minute, so `keys list` shows it at once.
    srv = await startTestServer(kind, { config: { keyUsageFlushMs: 50 } });
    alice = { AITBC_API_KEY: await srv.keyFor('alice') };
    agentId = (await json<{ id: string }>(['agent', 'register', '--name', 'box-1'])).id;
  });

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await srv?.close();
    home.remove();
  });

  it('an owner key issues a worker key for one agent, by name, expiring in an hour; whoami shows what it may do', async () => {
    const created = ok(await cli(['keys', 'create', '--scope', 'worker', '--agents', 'box-1', '--expires', '1h', '--label', 'box one']));
    expect(created.split('\n')[0]).toBe('New worker API key for alice. It is shown only this once; store it now:');
    expect(created).toMatch(/^scope: +worker$/m);
    expect(created).toMatch(new RegExp(`^agents: +${agentId}$`, 'm'));
    expect(created).toMatch(/^members: +none$/m);
    expect(created).toMatch(/^expires_at: +\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in (59m|1h)\)$/m);
    workerKey = keyIn(created);
    workerKeyId = /^id: +(\S+)$/m.exec(created)![1]!;

    const whoami = ok(await cli(['keys', 'whoami'], workerKey));
    expect(whoami).toMatch(/^owner_id: +alice$/m);
    expect(whoami).toMatch(/^scope: +worker$/m);
    expect(whoami).toMatch(new RegExp(`^key_id: +${workerKeyId}$`, 'm'));
    expect(whoami).toMatch(new RegExp(`^agents: +box-1 \\(${agentId}\\)$`, 'm'));
    expect(whoami).toMatch(/^expires_at: +\S+ \S+ UTC \(in (59m|1h)\)$/m);

    // A worker key does its work and nothing else.
    expect(failed(await cli(['agent', 'list'], workerKey))).toMatch(
      /This needs a read, owner or admin key; the key presented is a worker key/,
    );
    await until('the last use to be written', async () =>
      (await json<{ keys: KeyView[] }>(['keys', 'list'])).keys.find((k) => k.id === workerKeyId)?.last_used_at ? true : undefined,
    );
    const keys = ok(await cli(['keys', 'list']));
    expect(keys.split('\n')[0]).toMatch(/^ID +SCOPE +EXPIRES +LAST USED +LABEL$/);
    expect(keys).toMatch(new RegExp(`^${workerKeyId} +worker +in (59m|1h) +(\\d+s|\\d+m) ago +box one$`, 'm'));
    expect(keys).toMatch(/\n\n2 keys of alice\n$/);
  });

  it('refuses a bad --expires, or --agents on a key that is not a worker key, and issues nothing', async () => {
    const before = (await json<{ keys: KeyView[] }>(['keys', 'list'])).keys.length;
    const runs = await Promise.all([
      cli(['keys', 'create', '--scope', 'worker', '--expires', '3 days']),
      cli(['keys', 'create', '--expires', '0']),
      cli(['keys', 'create', '--agents', 'box-1']),
      cli(['keys', 'create', '--scope', 'worker']),
      cli(['keys', 'create', '--scope', 'worker', '--agents', 'all,box-1']),
    ]);
    expect(failed(runs[0]!, 2)).toBe(
      "aitbc: option '--expires <duration>' argument '3 days' is invalid. Expected a duration such as 30d, 12h, 90m, 45s or 2w (from 1s to 1825d).\n",
    );
    expect(failed(runs[1]!, 2)).toMatch(/argument '0' is invalid\. Expected a duration from 1s to 1825d\./);
    expect(failed(runs[2]!, 2)).toBe('aitbc: --agents is for worker keys only: add --scope worker\n');
    expect(failed(runs[3]!, 2)).toBe(
      "aitbc: a worker key works only for what it names: add --agents (ids or names) and/or --members (ids), or --agents all / --members all for every one of the owner's\n",
    );
    expect(failed(runs[4]!, 2)).toBe("aitbc: --agents all is every one of the owner's agents: give it alone, not with ids\n");
    expect((await json<{ keys: KeyView[] }>(['keys', 'list'])).keys).toHaveLength(before);
  });

  it('agent work with the worker key finds its agent by name, does its subtask, and marks the agent offline at stop', async () => {
    const log = join(home.home, 'box-1.log');
    writeFileSync(log, '');
    const exec = ['--exec', `"${process.execPath}" "${doubleItems}"`, '--poll-interval', '0.1'];
    const worker = startWorker(['agent', 'work', '--agent', 'box-1', ...exec], workerKey, { WORK_LOG: log });
    await until('box-1 to claim', async () => {
      const agent = await json<{ status: string }>(['agent', 'get', agentId]);
      return agent.status === 'online' ? true : undefined;
    });

    const network = await json<{ id: string }>(['agent', 'network', 'create', '--name', 'scoped', '--agents', 'box-1']);
    const taskFile = join(home.home, 'task.json');
    writeFileSync(taskFile, JSON.stringify({ items: [1, 2, 3], reduce: 'sum' }));
    const execution = await json<ExecutionView>([
      'agent',
      'network',
      'execute',
      network.id,
      '--task',
      taskFile,
      '--wait',
      '--interval',
      '0.1',
    ]);
    expect(execution.status).toBe('completed');
    expect(execution.results).toMatchObject({ reduced: 12 });
    expect(readFileSync(log, 'utf8')).toContain(`${execution.id} `);

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.stdout).toMatch(new RegExp(`^agent_id: +${agentId}\\nclaimed: +1\\ncompleted: +1\\nfailed: +0\\nlost: +0\\n$`));
    expect(worker.stderr).toMatch(new RegExp(`^aitbc work: agent box-1 \\(${agentId}\\): working with 1 slot`));
    expect(worker.stderr).toMatch(/aitbc work: agent box-1: stopped; marked offline, so its waiting subtasks move to other agents/);
    // (403 as a word: an id may hold the digits.)
    expect(worker.stderr).not.toMatch(/could not mark it offline|\b403\b|FORBIDDEN/);
    expect((await json<{ status: string }>(['agent', 'get', agentId])).status).toBe('offline');

    // Other agents are not this key's; a key that names no agents takes ids only.
    const other = await json<{ id: string }>(['agent', 'register', '--name', 'box-2']);
    expect(failed(await cli(['agent', 'work', '--agent', 'box-2', ...exec], workerKey))).toBe(
      `aitbc: this worker key works only for agent box-1 (${agentId}); not for 'box-2'\n`,
    );
    const anyAgent = ok(await cli(['keys', 'create', '--scope', 'worker', '--agents', 'all', '-q'])).trim();
    expect(failed(await cli(['agent', 'work', '--agent', 'box-2', ...exec], anyAgent))).toMatch(
      /^aitbc: a worker key cannot look agents up by name, .*pass the agent's id/,
    );
    const byId = startWorker(['agent', 'work', '--agent', other.id, ...exec], anyAgent, { WORK_LOG: log });
    await until('box-2 to claim with the id', async () =>
      (await json<{ status: string }>(['agent', 'get', other.id])).status === 'online' ? true : undefined,
    );
    byId.child.kill('SIGTERM');
    expect(await byId.exited).toBe(0);
    expect(byId.stderr).toMatch(new RegExp(`aitbc work: agent ${other.id}: stopped; marked offline`));
  });

  it('swarm work runs a member with a worker key that names it', async () => {
    const member = await json<JoinView>(['swarm', 'join', '--role', 'monitor', '--capability', 'scoped']);
    const key = ok(await cli(['keys', 'create', '--scope', 'worker', '--members', member.member_id, '-q'])).trim();
    const me = await json<WhoAmI>(['keys', 'whoami'], key);
    expect(me).toMatchObject({ scope: 'worker', agents: [], members: [member.member_id], agent_names: null });
    const worker = startWorker(
      ['swarm', 'work', '--member', member.member_id, '--exec', `"${process.execPath}" "${swarmAnswer}"`, '--poll-interval', '0.1'],
      key,
      {
        WORK_LOG: join(home.home, 'member.log'),
      },
    );
    await until('the member to be active', async () => {
      const { members } = await json<{ members: MemberView[] }>(['swarm', 'members', member.swarm_id]);
      return members.every((m) => m.status === 'active') ? true : undefined;
    });
    const task = await json<CoordinateView>([
      'swarm',
      'coordinate',
      '--task',
      'what is 6*7',
      '--strategy',
      'consensus',
      '--capability',
      'scoped',
      '--collaborators',
      '1',
    ]);
    const done = await until('the task to finish', async () => {
      const t = await json<TaskStatusView>(['swarm', 'status', task.task_id]);
      return ['completed', 'failed', 'cancelled', 'timed_out'].includes(t.status) ? t : undefined;
    });
    expect(done).toMatchObject({ status: 'completed', result: { answer: 42 } });
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.stdout).toMatch(/^member_id: +\S+\nclaimed: +1\ncompleted: +1\n/);
  });

  it('keys rotate: the old key keeps working for the grace period; --grace 0 stops it at once', async () => {
    const first = ok(await cli(['keys', 'create', '--scope', 'read', '--label', 'dashboards', '-q'])).trim();
    const firstId = (await json<WhoAmI>(['keys', 'whoami'], first)).key_id!;

    const rotated = ok(await cli(['keys', 'rotate', firstId]));
    expect(rotated.split('\n')[0]).toMatch(/^Rotated alice's read key aitbc_\S+…: the new key is shown only this once; store it now:$/);
    expect(rotated).toMatch(/^label: +dashboards$/m);
    expect(rotated).toMatch(
      new RegExp(
        `\\n\\nThe old key \\S+… \\(${firstId}\\) keeps working until \\S+ \\S+ UTC \\(in 2[34]h\\); \`aitbc keys revoke ${firstId}\` stops it sooner\\.\\n$`,
      ),
    );
    const second = keyIn(rotated);
    expect(second).not.toBe(first);
    const [oldStill, fresh] = await Promise.all([json<WhoAmI>(['keys', 'whoami'], first), json<WhoAmI>(['keys', 'whoami'], second)]);
    expect(oldStill).toMatchObject({ key_id: firstId, scope: 'read', expires_at: expect.any(String) });
    expect(fresh).toMatchObject({ scope: 'read', expires_at: null });
    expect(fresh.key_id).not.toBe(firstId);

    const third = ok(await cli(['keys', 'rotate', fresh.key_id!, '--grace', '0', '-q']));
    expect(third).toMatch(/^aitbc_\S+\n$/);
    expect(failed(await cli(['keys', 'whoami'], second))).toMatch(/^aitbc: API key expired at \S+/);
    expect(await json<WhoAmI>(['keys', 'whoami'], third.trim())).toMatchObject({ scope: 'read' });
    // Rotated once already: the server says which key replaced it.
    expect(failed(await cli(['keys', 'rotate', firstId]))).toMatch(/was already rotated; its replacement is key/);
    expect(failed(await cli(['keys', 'rotate', firstId, '--grace', '31d']), 2)).toMatch(/Expected a duration from 0s to 30d\./);

    // The audit log: who issued and rotated which key, newest first.
    const { entries } = await json<{ entries: AuditEntry[] }>(['audit', 'list', '--all']);
    const keyEntries = entries.filter((e) => e.action === 'key.create' || e.action === 'key.rotate');
    expect(keyEntries.slice(0, 3).map((e) => [e.action, e.target_id])).toEqual([
      ['key.rotate', fresh.key_id],
      ['key.rotate', firstId],
      ['key.create', firstId],
    ]);
    expect(entries.find((e) => e.action === 'key.create' && e.target_id === workerKeyId)).toMatchObject({
      owner_id: 'alice',
      actor_owner_id: 'alice',
    });
    const table = ok(await cli(['audit', 'list', '--action', 'key.rotate']));
    expect(table.split('\n')[0]).toMatch(/^WHEN +ACTION +TARGET +BY +IP +REQUEST/);
    expect(table.split('\n').filter((l) => / key\.rotate /.test(l))).toHaveLength(2);
    expect(table).toMatch(/\n\n2 entries of alice\n$/);
    const one = await json<{ entries: AuditEntry[]; next_cursor: string | null }>(['audit', 'list', '--target', firstId, '--limit', '1']);
    expect(one.entries.map((e) => e.action)).toEqual(['key.rotate']);
    expect(one.next_cursor).toEqual(expect.any(String));
  });
});

// `aitbc dead-letters list|redrive` and `aitbc subtask get`: run functions called against a real server in this
// process, and the commands' own output once through a real process. Both databases.
import { createClient, type AitbcClient } from '@aitbc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../../server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../server/test/support/server.ts';
import { renderDeadLetters, runDeadLettersList } from '../src/cmd/dead-letters/list.ts';
import { renderRedrive, runDeadLettersRedrive } from '../src/cmd/dead-letters/redrive.ts';
import { renderSubtask, runSubtaskGet } from '../src/cmd/subtask/get.ts';
import { UsageError } from '../src/failure.ts';
import { aitbc, ok, tempHome } from './support/aitbc.ts';

describe.each(databaseKinds)('dead-letters commands on %s', (kind) => {
  let srv: TestServer;
  let key: string;
  let alice: { client: AitbcClient };
  const home = tempHome();

  beforeAll(async () => {
    srv = await startTestServer(kind);
    key = await srv.keyFor('alice');
    alice = { client: createClient({ url: srv.url, apiKey: key }) };
  });
  afterAll(async () => {
    await srv?.close();
    home.remove();
  });

  async function failedExecution(name: string, error: string) {
    const agent = await alice.client.agent.register.mutate({ name });
    const network = await alice.client.network.create.mutate({ name, agents: [agent.id], max_attempts: 1, speculation: false });
    const execution = await alice.client.execution.execute.mutate({ network_id: network.id, task: { subtasks: ['x'] } });
    const { subtask } = await alice.client.work.claim.mutate({ agent_id: agent.id });
    await alice.client.work.fail.mutate({ subtask_id: subtask!.subtask_id, lease_id: subtask!.lease_id, error });
    return { network: network.id, execution: execution.id, subtask: subtask!.subtask_id };
  }

  it('lists dead letters by network name and error text, shows a subtask’s attempts, and redrives them', async () => {
    const gpu = await failedExecution(`gpu-${kind}`, 'CUDA error: out of memory');
    const disk = await failedExecution(`disk-${kind}`, 'no space left on device');

    const byNetwork = await runDeadLettersList({ network: `gpu-${kind}` }, alice);
    expect(byNetwork.dead_letters.map((d) => d.subtask_id)).toEqual([gpu.subtask]);
    const byError = await runDeadLettersList({ error: 'space left' }, alice);
    expect(byError.dead_letters.map((d) => d.subtask_id)).toEqual([disk.subtask]);
    const text = renderDeadLetters(await runDeadLettersList({}, alice));
    expect(text).toMatch(/^FAILED +EXECUTION +SUBTASK +SEQ +ATTEMPTS +LAST ERROR$/m);
    expect(text).toMatch(/\n2 dead letters\n/);

    const history = await runSubtaskGet({ id: gpu.subtask }, alice);
    expect(history.history).toMatchObject([{ outcome: 'failed', error: 'CUDA error: out of memory' }]);
    expect(renderSubtask(history)).toMatch(/^status: +failed$/m);

    await expect(runDeadLettersRedrive({}, alice)).rejects.toThrow(UsageError);
    await expect(runDeadLettersRedrive({ all: true, error: 'x' }, alice)).rejects.toThrow(UsageError);
    const redriven = await runDeadLettersRedrive({ execution: gpu.execution }, alice);
    expect(redriven).toEqual({ redriven: [{ execution_id: gpu.execution, subtasks: 1 }], skipped: [] });
    expect(renderRedrive(redriven)).toBe(`execution ${gpu.execution}: running again, 1 subtask queued\n`);
    expect((await runDeadLettersList({}, alice)).dead_letters.map((d) => d.subtask_id)).toEqual([disk.subtask]);
  });

  it('prints the list through the real command, and refuses a redrive that names nothing', async () => {
    const env = { AITBC_URL: srv.url, AITBC_API_KEY: key };
    const listed = ok(await aitbc(['dead-letters', 'list', '--error', 'no space', '-o', 'json'], { home: home.home, env }));
    expect(JSON.parse(listed).dead_letters).toMatchObject([{ error: 'no space left on device (attempt 1 of 1)' }]);
    const refused = await aitbc(['dead-letters', 'redrive'], { home: home.home, env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/say which dead letters to run again/);
  });
});

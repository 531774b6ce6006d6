// Verification in the CLI (README "Verification"): the policy flags on network create and update, host labels,
// the validation column and summary, and `aitbc hosts list|lift`; run functions against a real server, and the
// flags through the real executable.
import { createClient, type AitbcClient } from '@aitbc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../../server/test/support/databases.ts';
import { startTestServer, type TestServer } from '../../server/test/support/server.ts';
import { runAgentRegister } from '../src/cmd/agent/register.ts';
import { runAgentUpdate } from '../src/cmd/agent/update.ts';
import { renderHost, runHostLift } from '../src/cmd/host/lift.ts';
import { hostState, renderHostList, runHostList } from '../src/cmd/host/list.ts';
import { runNetworkCreate } from '../src/cmd/network/create.ts';
import { renderExecution, runNetworkExecution } from '../src/cmd/network/execution.ts';
import { renderNetwork } from '../src/cmd/network/get.ts';
import { renderNetworkStatus, runNetworkStatus } from '../src/cmd/network/status.ts';
import { runNetworkUpdate } from '../src/cmd/network/update.ts';
import { UsageError } from '../src/failure.ts';
import { aitbc, ok, tempHome } from './support/aitbc.ts';

describe.each(databaseKinds)('verification commands on %s', (kind) => {
  let srv: TestServer;
  let key: string;
  let alice: { client: AitbcClient };

  beforeAll(async () => {
    srv = await startTestServer(kind);
    key = await srv.keyFor('alice');
    alice = { client: createClient({ url: srv.url, apiKey: key }) };
  });
  afterAll(() => srv?.close());

  /** Claims and answers every subtask the agent has. */
  async function answer(agentId: string, result: (payload: any) => unknown): Promise<void> {
    for (;;) {
      const { subtask } = await alice.client.work.claim.mutate({ agent_id: agentId });
      if (!subtask) return;
      await alice.client.work.result.mutate({
        subtask_id: subtask.subtask_id,
        lease_id: subtask.lease_id,
        result: result(subtask.payload),
      });
    }
  }

  it('network create and update take the policy as flags; the network shows it in one line', async () => {
    const a = await runAgentRegister({ name: 'pv-1', host: 'rack-1' }, alice);
    expect(a.host).toBe('rack-1');
    expect((await runAgentUpdate({ id: a.id, host: '' }, alice)).host).toBeNull();
    const net = await runNetworkCreate(
      {
        name: 'verified',
        agents: [a.id],
        verification: 'adaptive',
        spotCheckRate: 0.2,
        comparator: 'numeric',
        tolerance: 1e-3,
        quarantine: 600,
      },
      alice,
    );
    expect(net.verification).toMatchObject({
      policy: 'adaptive',
      spot_check_rate: 0.2,
      comparator: 'numeric',
      relative_tolerance: 1e-3,
      quarantine_seconds: 600,
      trust_after: 10,
    });
    const shown = renderNetwork(net);
    expect(shown).toMatch(/verification: +adaptive\n/);
    expect(shown).toMatch(/quorum: +2 agree, at most 4 copies\n/);
    expect(shown).toMatch(/trust: +after 10 valid in a row, 20% spot-checked\n/);
    expect(shown).toMatch(/comparator: +numeric \(relative 0\.001, absolute 1e-9\)\n/);
    expect(shown).toMatch(/quarantine: +2 invalid of the last 10, for 600 s\n/);
    // Merged into the current policy.
    const updated = await runNetworkUpdate({ id: net.id, trustAfter: 5 }, alice);
    expect(updated.verification).toMatchObject({ policy: 'adaptive', trust_after: 5, spot_check_rate: 0.2 });
    await expect(runNetworkUpdate({ id: net.id }, alice)).rejects.toThrow(UsageError);

    // The flags as a user types them, through the real executable.
    const home = tempHome();
    try {
      const env = { AITBC_URL: srv.url, AITBC_API_KEY: key };
      const out = ok(
        await aitbc(
          [
            '-o',
            'json',
            'agent',
            'network',
            'create',
            '--name',
            'flags',
            '--agents',
            a.id,
            '--verification',
            'replicate',
            '--copies',
            '3',
            '--max-copies',
            '5',
            '--quarantine',
            '2h',
          ],
          { home: home.home, env },
        ),
      );
      expect(JSON.parse(out).verification).toMatchObject({ policy: 'replicate', copies: 3, max_copies: 5, quarantine_seconds: 7200 });
      const bad = await aitbc(['agent', 'network', 'create', '--name', 'x', '--agents', a.id, '--verification', 'sometimes'], {
        home: home.home,
        env,
      });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/none, replicate, adaptive/);
    } finally {
      home.remove();
    }
  });

  it('an execution shows each copy’s validation and what verification cost; hosts list and lift show and end a quarantine', async () => {
    const agents = [];
    for (const name of ['hv-1', 'hv-2', 'hv-3']) agents.push((await runAgentRegister({ name, status: 'online' }, alice)).id);
    const [h1, h2, liar] = agents as [string, string, string];
    const net = await runNetworkCreate(
      { name: 'hosts', agents, verification: 'replicate', copies: 3, maxCopies: 3, quarantineAfter: 1, workStealing: false },
      alice,
    );
    const e = await alice.client.execution.execute.mutate({ network_id: net.id, task: { subtasks: [{ x: 1 }] } });
    await answer(liar, () => 'lie');
    await answer(h1, () => 'truth');
    await answer(h2, () => 'truth');
    const view = await runNetworkExecution({ id: net.id, executionId: e.id }, alice);
    const text = renderExecution(view);
    expect(text).toMatch(/validation: +1 validated, 0 inconclusive, 0 pending\n/);
    expect(text).toMatch(/verification cost: +3 results \(3× needed\), 2 extra copies\n/);
    expect(text).toMatch(/invalid results: +1\n/);
    expect(text).toMatch(/VALIDATION/);
    expect(text).toMatch(/invalid/);
    expect(renderNetworkStatus(await runNetworkStatus({ id: net.id }, alice))).toMatch(/validation: +1 validated, 0 inconclusive\n/);

    const quarantined = await runHostList({ quarantined: true }, alice);
    expect(quarantined.hosts.map((h) => h.host_id)).toEqual([liar]);
    expect(renderHostList(quarantined)).toMatch(/hv-3 +quarantined, 60 min left +0 +1 *\n/);
    expect(renderHostList(quarantined)).toMatch(/1 of 1 host with a validation record/);
    // A host on probation (adaptive: never validated, a result awaiting its check) says so until its check or its time.
    const probation = {
      ...quarantined.hosts[0]!,
      quarantined: false,
      quarantined_until: null,
      probation_until: new Date(Date.now() + 30_000).toISOString(),
    };
    expect(hostState(probation)).toBe('on probation');
    expect(hostState(probation, Date.now() + 31_000)).toBe('untrusted');
    const lifted = await runHostLift({ id: liar }, alice);
    expect(lifted).toMatchObject({ quarantined: false, invalid: 1 });
    expect(renderHost(lifted)).toMatch(/state: +untrusted/);
    expect((await runHostList({ quarantined: true }, alice)).hosts).toEqual([]);
    await expect(runHostLift({ id: liar }, alice)).rejects.toThrow(/is not quarantined/);
  });
});

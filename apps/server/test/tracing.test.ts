// OpenTelemetry traces, received by a real OTLP/HTTP endpoint on loopback:
// one task's spans (coordinate, each claim and result, the sweep of a lapsed
// lease, the consensus decision) arrive under one trace, with the task, member
// and subtask ids as attributes, each linked to the request span it happened
// in; a caller's traceparent is the parent of its request's span. Without an
// endpoint nothing is sent.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from './support/databases.ts';
import { restClient } from './support/http.ts';
import { startTestServer, type TestServer } from './support/server.ts';

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: OtlpValue }[];
  links?: { traceId: string; spanId: string }[];
}
interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
}

function otlpValue(v: OtlpValue): unknown {
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(otlpValue);
  return v.stringValue ?? v.doubleValue ?? v.boolValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined);
}

/** An OTLP/HTTP receiver (JSON encoding, as @opentelemetry/exporter-trace-otlp-http sends): every span it was sent. */
async function otlpReceiver(): Promise<{ url: string; spans: Span[]; requests: number; close(): Promise<void> }> {
  const received = { spans: [] as Span[], requests: 0 };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.requests++;
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const rs of doc.resourceSpans)
          for (const ss of rs.scopeSpans)
            for (const s of ss.spans)
              received.spans.push({
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId || null,
                name: s.name,
                attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, otlpValue(a.value)])),
                links: s.links ?? [],
              });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get spans() {
      return received.spans;
    },
    get requests() {
      return received.requests;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(databaseKinds)('traces on %s', (kind) => {
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
  let srv: TestServer;
  let alice: ReturnType<typeof restClient>;

  beforeAll(async () => {
    receiver = await otlpReceiver();
    srv = await startTestServer(kind, { config: { otlpEndpoint: receiver.url, traceExportDelayMs: 50 } });
    alice = restClient(srv.url, await srv.keyFor('alice'));
  });
  afterAll(async () => {
    await srv?.close();
    await receiver?.close();
  });

  /** Spans matching `pick`, once at least `count` of them have arrived. */
  async function spansWhere(pick: (s: Span) => boolean, count = 1): Promise<Span[]> {
    for (let i = 0; i < 100 && receiver.spans.filter(pick).length < count; i++) await sleep(50);
    return receiver.spans.filter(pick);
  }

  it('sends one swarm task’s spans under one trace, linked to the requests they happened in', async () => {
    const join = { role: 'monitor', capability: 'traced', suspect_after_seconds: 3600, fail_after_seconds: 3600 };
    const first = await alice('POST', '/swarm/join', join);
    const members = [first.body.member_id as string];
    for (let i = 0; i < 2; i++)
      members.push((await alice('POST', '/swarm/join', { ...join, swarm_id: first.body.swarm_id })).body.member_id);
    const coordinated = await alice('POST', '/swarm/coordinate', {
      task_id: `traced-${kind}`,
      strategy: 'consensus',
      collaborators: 3,
      parameters: { capability: 'traced', work_stealing: false },
    });
    expect(coordinated.status).toBe(202);
    const taskId = coordinated.body.task_id as string;

    // A worker's own trace: its claim's request span is a child of the span it sent as traceparent.
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const [m1, m2, m3] = members as [string, string, string];
    const lapsing = (await alice('POST', `/swarm/members/${m3}/claim`, { lease_seconds: 1 })).body.subtask;
    for (const m of [m1, m2]) {
      const claimed = await alice('POST', `/swarm/members/${m}/claim`, {}, { traceparent: `00-${callerTrace}-${callerSpan}-01` });
      const posted = await alice('POST', `/api/v1/subtasks/${claimed.body.subtask.subtask_id}/result`, {
        lease_id: claimed.body.subtask.lease_id,
        result: 42,
      });
      expect(posted.status, JSON.stringify(posted.body)).toBe(200);
    }
    // m3's lease lapses; the sweep hands its vote back, and m3 claims it again and answers.
    let again: { subtask_id: string; lease_id: string } | null = null;
    for (let i = 0; i < 60 && !again; i++) {
      await sleep(100);
      again = (await alice('POST', `/swarm/members/${m3}/claim`, {})).body.subtask;
    }
    expect(again?.subtask_id).toBe(lapsing.subtask_id);
    expect((await alice('POST', `/api/v1/subtasks/${again!.subtask_id}/result`, { lease_id: again!.lease_id, result: 42 })).status).toBe(
      200,
    );
    expect((await alice('GET', `/swarm/tasks/${taskId}/status?wait_seconds=10`)).body.status).toBe('completed');

    const ofTask = (s: Span) => s.attributes['aitbc.task_id'] === taskId;
    const [coordinate] = await spansWhere((s) => s.name === 'coordinate' && ofTask(s));
    expect(coordinate, 'the coordinate span').toBeDefined();
    const claims = await spansWhere((s) => s.name === 'claim' && ofTask(s), 4);
    const results = await spansWhere((s) => s.name === 'result' && ofTask(s), 3);
    const [sweep] = await spansWhere((s) => s.name === 'sweep: lease expired' && ofTask(s));
    const [consensus] = await spansWhere((s) => s.name === 'consensus' && ofTask(s));

    expect(claims).toHaveLength(4);
    expect(results).toHaveLength(3);
    expect(sweep, 'the sweep span').toBeDefined();
    expect(consensus?.attributes).toMatchObject({ 'aitbc.consensus.state': 'reached', 'aitbc.task.status': 'completed' });
    // One trace, under the coordinate span.
    for (const s of [...claims, ...results, sweep!, consensus!]) {
      expect(s.traceId, s.name).toBe(coordinate!.traceId);
      expect(s.parentSpanId, s.name).toBe(coordinate!.spanId);
      expect(s.attributes['aitbc.swarm_id'], s.name).toBe(first.body.swarm_id);
    }
    expect(new Set(claims.flatMap((s) => s.attributes['aitbc.member_ids'] as string[]))).toEqual(new Set(members));
    expect(results.flatMap((s) => s.attributes['aitbc.subtask_ids'] as string[])).toHaveLength(3);

    // Each claim and result links to the request span it happened in (the sweep runs in none).
    const byId = new Map(receiver.spans.map((s) => [s.spanId, s]));
    for (const s of [...claims, ...results]) {
      expect(s.links, s.name).toHaveLength(1);
      expect(byId.get(s.links[0]!.spanId)?.name, s.name).toMatch(
        /^POST \/(swarm\/members\/:member_id\/claim|api\/v1\/subtasks\/:subtask_id\/result)$/,
      );
    }
    expect(sweep!.links).toEqual([]);
    const callers = receiver.spans.filter((s) => s.traceId === callerTrace);
    expect(callers.map((s) => s.name)).toEqual(['POST /swarm/members/:member_id/claim', 'POST /swarm/members/:member_id/claim']);
    for (const s of callers) expect(s.parentSpanId).toBe(callerSpan);
  });

  it('sends an execution’s claims and results under the execute span’s trace', async () => {
    const agent = (await alice('POST', '/api/v1/agents', { name: 'traced-agent' })).body;
    const network = (await alice('POST', '/api/v1/agents/networks', { name: 'traced', agents: [agent.id] })).body;
    const execution = (await alice('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { items: [1, 2] } })).body;
    const claimed = (await alice('POST', `/api/v1/agents/${agent.id}/claims`, { max: 10 })).body.subtasks;
    expect(claimed.length).toBeGreaterThan(0);
    const posted = await alice('POST', '/api/v1/subtasks/results', {
      results: claimed.map((c: { subtask_id: string; lease_id: string }) => ({
        subtask_id: c.subtask_id,
        lease_id: c.lease_id,
        result: 1,
      })),
    });
    expect(posted.body.recorded).toBe(claimed.length);

    const ofExecution = (s: Span) => s.attributes['aitbc.execution_id'] === execution.id;
    const [execute] = await spansWhere((s) => s.name === 'execute' && ofExecution(s));
    const [claim] = await spansWhere((s) => s.name === 'claim' && ofExecution(s));
    const [result] = await spansWhere((s) => s.name === 'result' && ofExecution(s));
    expect(execute?.attributes).toMatchObject({ 'aitbc.network_id': network.id });
    for (const s of [claim!, result!]) {
      expect([s.traceId, s.parentSpanId]).toEqual([execute!.traceId, execute!.spanId]);
      expect(s.attributes['aitbc.agent_ids']).toEqual([agent.id]);
      expect(s.attributes['aitbc.subtask_ids']).toEqual(expect.arrayContaining(claimed.map((c: { subtask_id: string }) => c.subtask_id)));
    }
  });

  // Concurrent requests' transactions may run together (SQLite commits them in one group, from whichever request's
  // turn came first): each still runs in its own request's context, so each execution joins its own caller's trace
  // and each result links to its own request.
  it('keeps concurrent executions and results in their own callers’ traces', async () => {
    const agent = (await alice('POST', '/api/v1/agents', { name: 'traced-concurrent' })).body;
    const network = (await alice('POST', '/api/v1/agents/networks', { name: 'traced-concurrent', agents: [agent.id] })).body;
    const callers = Array.from({ length: 8 }, (_, i) => ({
      trace: `${(i + 1).toString(16).padStart(2, '0')}${'a'.repeat(30)}`,
      span: 'b'.repeat(16),
    }));
    const traceparent = (c: (typeof callers)[number]) => ({ traceparent: `00-${c.trace}-${c.span}-01` });
    const executions = await Promise.all(
      callers.map(async (c, i) => {
        const r = await alice('POST', `/api/v1/agents/networks/${network.id}/execute`, { task: { n: i } }, traceparent(c));
        expect(r.status).toBe(202);
        return r.body.id as string;
      }),
    );
    const claimed: { subtask_id: string; lease_id: string; execution_id: string }[] = (
      await alice('POST', `/api/v1/agents/${agent.id}/claims`, { max: 100 })
    ).body.subtasks;
    expect(new Set(claimed.map((c) => c.execution_id))).toEqual(new Set(executions));
    // One result per caller, all at once, each sent under its caller's traceparent.
    const posted = await Promise.all(
      claimed.map((c) => {
        const caller = callers[executions.indexOf(c.execution_id)]!;
        return alice('POST', `/api/v1/subtasks/${c.subtask_id}/result`, { lease_id: c.lease_id, result: 1 }, traceparent(caller));
      }),
    );
    for (const r of posted) expect(r.status).toBe(200);

    for (const [i, id] of executions.entries()) {
      const ofExecution = (s: Span) => s.attributes['aitbc.execution_id'] === id;
      const [execute] = await spansWhere((s) => s.name === 'execute' && ofExecution(s));
      const results = await spansWhere((s) => s.name === 'result' && ofExecution(s));
      expect(execute?.traceId, `execution ${i}`).toBe(callers[i]!.trace);
      expect(results.length, `execution ${i}'s results`).toBeGreaterThan(0);
      for (const result of results) {
        expect(result.traceId, `execution ${i}'s result`).toBe(callers[i]!.trace);
        // The request it happened in is its own caller's.
        expect(result.links, `execution ${i}'s result`).toHaveLength(1);
        const [request] = await spansWhere((s) => s.spanId === result.links[0]!.spanId);
        expect(request?.traceId, `execution ${i}'s result's request`).toBe(callers[i]!.trace);
      }
    }
  });

  it('sends nothing, and loads no SDK, without an endpoint', async () => {
    const quiet = await startTestServer(kind);
    try {
      expect(quiet.server.work.tracing.enabled).toBe(false);
      const before = receiver.requests;
      const key = await quiet.keyFor('carol');
      await restClient(quiet.url, key)('POST', '/api/v1/agents', { name: 'untraced' });
      await sleep(200);
      expect(receiver.requests).toBe(before);
    } finally {
      await quiet.close();
    }
  });
});

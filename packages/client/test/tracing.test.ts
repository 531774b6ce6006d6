// The client carries the caller's current span to the server as a W3C
// traceparent header, when the program has set up OpenTelemetry; without it,
// it sends none.
import { AsyncLocalStorage } from 'node:async_hooks';
import { type Context, type ContextManager, context, propagation, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from '../src/index.ts';

/** What a program's OpenTelemetry setup registers: a context manager (here on AsyncLocalStorage) and a propagator. */
class StorageContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();
  active = () => this.storage.getStore() ?? ROOT_CONTEXT;
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A) {
    return this.storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable = () => this;
  disable = () => this;
}

/** A client whose fetch records the headers it was asked to send, and answers as the server would to whoami. */
function capturing() {
  const sent: Record<string, string>[] = [];
  const client = createClient({
    url: 'http://127.0.0.1:9',
    apiKey: 'aitbc_test',
    fetch: async (_input, init) => {
      sent.push(Object.fromEntries(new Headers(init?.headers).entries()));
      const whoami = {
        owner_id: 'alice',
        scope: 'owner',
        role: 'owner',
        key_id: 'k',
        agents: null,
        members: null,
        expires_at: null,
        agent_names: null,
      };
      return new Response(JSON.stringify([{ result: { data: whoami } }]), { headers: { 'content-type': 'application/json' } });
    },
  });
  return { client, sent };
}

describe('trace propagation', () => {
  afterEach(() => {
    context.disable();
    propagation.disable();
  });

  it('sends no traceparent when the program has not set up OpenTelemetry', async () => {
    const { client, sent } = capturing();
    await client.key.whoami.query({});
    expect(sent[0]).toMatchObject({ 'x-api-key': 'aitbc_test' });
    expect(sent[0]!.traceparent).toBeUndefined();
  });

  it('sends the current span as traceparent when it has', async () => {
    context.setGlobalContextManager(new StorageContextManager());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const span = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED };
    const { client, sent } = capturing();
    await context.with(trace.setSpanContext(ROOT_CONTEXT, span), () => client.key.whoami.query({}));
    expect(sent[0]!.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });
});

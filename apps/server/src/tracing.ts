import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type Attributes,
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import fp from 'fastify-plugin';

/** Where a task's trace continues: the W3C traceparent of the span that created it (coordinate or execute). */
export type TraceParent = string;

/**
 * OpenTelemetry traces, exported over OTLP/HTTP when an endpoint is set
 * (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; the
 * exporter reads the standard OTEL_* variables itself). Without one, every
 * method does nothing and costs a branch: `enabled` is false and `span`
 * calls its function straight away.
 *
 * Each server has its own provider and its own current-span storage (nothing
 * global is registered), so several servers in one process, as the tests run
 * them, keep their traces apart.
 *
 * One task, one trace: coordinate and execute remember their span's context on
 * the task's row (`trace_parent`); the claims, results, consensus decisions and
 * sweeps of that task's subtasks are spans under it, linked to the request
 * span (the worker's call) they happened in.
 */
export interface Tracing {
  readonly enabled: boolean;
  /** Runs `fn` in a span, a child of the current one; ends it when `fn` settles. `annotate` adds attributes known later. */
  span<T>(name: string, attributes: Attributes, fn: (annotate: (attributes: Attributes) => void) => Promise<T>): Promise<T>;
  /** A span that already happened (from `start` to now), under a task's trace and linked to the current span. */
  record(name: string, attributes: Attributes, start: Date, parent: TraceParent | null): void;
  /** The current span's traceparent (null when tracing is off or no span is current). */
  current(): TraceParent | null;
  /** A request span: its parent is the caller's `traceparent` header, if any. Returns what ends it. */
  request(name: string, traceparent: string | undefined, attributes: Attributes): { end(status: number): void; run<T>(fn: () => T): T };
  /** Sends what is pending and stops. */
  shutdown(): Promise<void>;
}

export const TRACING_OFF: Tracing = {
  enabled: false,
  span: (_name, _attributes, fn) => fn(() => {}),
  record: () => {},
  current: () => null,
  request: () => ({ end: () => {}, run: (fn) => fn() }),
  shutdown: async () => {},
};

export interface TracingConfig {
  /** OTLP/HTTP base URL (…/v1/traces is appended) or null: tracing off. */
  endpoint: string | null;
  /** How long finished spans wait before they are sent (the batch processor's delay), in ms. */
  exportDelayMs?: number;
}

/** Tracing for `config`; the SDK is loaded only when an endpoint is set. */
export async function createTracing(config: TracingConfig): Promise<Tracing> {
  if (!config.endpoint) return TRACING_OFF;
  const [{ W3CTraceContextPropagator }, { OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor, TracerProvider }] =
    await Promise.all([
      import('@opentelemetry/core'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-trace'),
    ]);
  const base = config.endpoint.replace(/\/+$/, '');
  const url = base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME?.trim() || 'aitbc-swarm' }),
    spanProcessors: [
      new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }), scheduledDelayMillis: config.exportDelayMs ?? 1000 }),
    ],
  });
  const tracer: Tracer = provider.getTracer('aitbc-swarm');
  const propagator = new W3CTraceContextPropagator();
  const storage = new AsyncLocalStorage<Context>();
  const active = () => storage.getStore() ?? ROOT_CONTEXT;

  const traceparentOf = (context: Context): TraceParent | null => {
    const carrier: Record<string, string> = {};
    propagator.inject(context, carrier, defaultTextMapSetter);
    return carrier.traceparent ?? null;
  };
  const contextOf = (traceparent: string | null | undefined): Context | null =>
    traceparent ? propagator.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter) : null;
  const linkToCurrent = (): Link[] => {
    const span = trace.getSpan(active());
    return span ? [{ context: span.spanContext() }] : [];
  };
  const failed = (span: Span, error: unknown) => {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
  };

  return {
    enabled: true,
    async span(name, attributes, fn) {
      const span = tracer.startSpan(name, { attributes }, active());
      try {
        return await storage.run(trace.setSpan(active(), span), () => fn((more) => span.setAttributes(more)));
      } catch (error) {
        failed(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
    record(name, attributes, start, parent) {
      const from = contextOf(parent);
      tracer.startSpan(name, { attributes, startTime: start, links: from ? linkToCurrent() : [] }, from ?? active()).end();
    },
    current: () => (trace.getSpan(active()) ? traceparentOf(active()) : null),
    request(name, traceparent, attributes) {
      const parent = contextOf(traceparent) ?? ROOT_CONTEXT;
      const span = tracer.startSpan(name, { attributes, kind: 1 /* SERVER */ }, parent);
      const context = trace.setSpan(parent, span);
      return {
        run: (fn) => storage.run(context, fn),
        end(status) {
          span.setAttribute('http.response.status_code', status);
          if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        },
      };
    },
    shutdown: () => provider.shutdown(),
  };
}

/** The span of a request, while it runs (tracing on only). */
export type RequestTrace = ReturnType<Tracing['request']>;

const requestTraces = new WeakMap<object, RequestTrace>();

/** The request's span, for the tRPC context: procedures run inside it. */
export function requestTrace(req: object): RequestTrace | undefined {
  return requestTraces.get(req);
}

/**
 * A span for every request, named by its method and route, whose parent is
 * the caller's `traceparent` header (the client sends the caller's current
 * span's). Registered only when tracing is on.
 */
export const tracingPlugin = fp<{ tracing: Tracing }>(async (app, { tracing }) => {
  if (!tracing.enabled) return;
  app.addHook('onRequest', async (req) => {
    const header = req.headers.traceparent;
    const route = req.routeOptions.url && !req.routeOptions.url.includes('*') ? req.routeOptions.url : req.url.split('?')[0];
    requestTraces.set(
      req,
      tracing.request(`${req.method} ${route}`, Array.isArray(header) ? header[0] : header, {
        'http.request.method': req.method,
        'http.route': route ?? '',
        'aitbc.request_id': req.id,
      }),
    );
  });
  app.addHook('onResponse', async (req, reply) => requestTraces.get(req)?.end(reply.statusCode));
});

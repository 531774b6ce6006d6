// Every procedure of the app router, and how to call one over each transport
// a client can use: tRPC (/trpc) and, when it has one, its REST path.
import type { ProcedureScope } from '@aitbc/core';
import { appRouter } from '../../src/routers/index.ts';
import type { Reply } from './http.ts';

export interface ProcedureInfo {
  /** tRPC path, e.g. `agent.get`. */
  path: string;
  type: 'query' | 'mutation' | 'subscription';
  /** Its REST operation, when it has one. */
  rest: { method: string; path: string } | null;
  /** The key scope it needs (set by its procedure builder). */
  scope: ProcedureScope;
}

/** Read from the router itself: a procedure added later is listed without touching this file. */
export function listProcedures(): ProcedureInfo[] {
  return Object.entries(
    appRouter._def.procedures as unknown as Record<
      string,
      { _def: { type: ProcedureInfo['type']; meta?: { scope?: ProcedureScope; openapi?: { method: string; path: string } } } }
    >,
  ).map(([path, p]) => ({
    path,
    type: p._def.type,
    rest: p._def.meta?.openapi ? { method: p._def.meta.openapi.method, path: p._def.meta.openapi.path } : null,
    scope: p._def.meta?.scope ?? (`no scope on ${path}` as ProcedureScope),
  }));
}

async function send(url: string, init: RequestInit): Promise<Reply> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON: keep the text */
  }
  return { status: res.status, body, headers: res.headers };
}

/** A query or mutation over tRPC's HTTP protocol (no transformer: the input is plain JSON). */
export function callTrpc(base: string, apiKey: string, proc: ProcedureInfo, input: unknown): Promise<Reply> {
  const headers: Record<string, string> = { 'x-api-key': apiKey };
  if (proc.type === 'mutation') {
    return send(`${base}/trpc/${proc.path}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(input ?? {}),
    });
  }
  const query = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  return send(`${base}/trpc/${proc.path}${query}`, { method: 'GET', headers });
}

/** The REST request for `input`: path parameters in the path, the rest in the query (GET, DELETE) or the JSON body. */
export function restRequest(proc: ProcedureInfo, input: Record<string, unknown>): { method: string; path: string; body?: string } {
  if (!proc.rest) throw new Error(`${proc.path} has no REST path`);
  const rest = { ...input };
  const path = proc.rest.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const value = rest[name];
    delete rest[name];
    return encodeURIComponent(String(value));
  });
  const method = proc.rest.method;
  if (method === 'GET' || method === 'DELETE') {
    const query = new URLSearchParams(
      Object.entries(rest).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
    ).toString();
    return { method, path: query ? `${path}?${query}` : path };
  }
  return { method, path, body: JSON.stringify(rest) };
}

export function callRest(base: string, apiKey: string, proc: ProcedureInfo, input: Record<string, unknown>): Promise<Reply> {
  const req = restRequest(proc, input);
  return send(base + req.path, {
    method: req.method,
    headers: { 'x-api-key': apiKey, ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(req.body !== undefined ? { body: req.body } : {}),
  });
}

/** The error code of a reply from either transport (REST `{code}`, tRPC `{error: {data: {code}}}`). */
export function errorCode(reply: Reply): string | undefined {
  const b = reply.body as { code?: string; error?: { data?: { code?: string } } } | undefined;
  return b?.code ?? b?.error?.data?.code;
}

/**
 * docs/client.md: every procedure of the router as the typed client calls
 * it, with its input, output, REST path and key scope, generated from the
 * router the way /openapi.json is (scripts/client-reference.ts writes it; a
 * test fails when the committed file differs). Types are written as
 * TypeScript from the procedures' Zod schemas (through their JSON Schema), so
 * they carry the schemas' field descriptions, which the client's .d.ts lacks.
 */
import type { AnyRouter } from '@trpc/server';
import { z } from 'zod';
import type { ProcedureScope } from '@aitbc/core';
import type { Meta } from './trpc.ts';

/** A schema whose client type is narrower than its JSON Schema says (NetworkTask): written by name, defined in the preamble. */
export interface NamedType {
  schema: z.ZodType;
  name: string;
  /** The TypeScript declarations of `name` and what it uses, as they stand in packages/core. */
  declarations: string;
}

export interface ReferenceOptions {
  /** A procedure's doc comment in its router's source (`agent.register` → text), for those without an OpenAPI summary. */
  docComments: ReadonlyMap<string, string>;
  named: readonly NamedType[];
}

interface Procedure {
  _def: { type: 'query' | 'mutation' | 'subscription'; meta?: Meta; inputs: z.ZodType[]; output?: z.ZodType };
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  not?: JsonSchema;
  description?: string;
  default?: unknown;
  format?: string;
  $ref?: string;
  'x-client-type'?: string;
};

const SCOPES: Record<ProcedureScope, string> = {
  any: 'any key',
  worker: 'worker (for its agents and members), owner or admin',
  read: 'read, owner or admin',
  owner: 'owner or admin',
  admin: 'admin',
};

const CALL = { query: 'query', mutation: 'mutate', subscription: 'subscribe' } as const;

export function clientReference(router: AnyRouter, options: ReferenceOptions): string {
  const procedures = Object.entries(router._def.procedures as Record<string, Procedure>);
  const lines: string[] = [
    '# The client’s procedures',
    '',
    '<!-- Generated from the server’s router by `pnpm docs:client` (apps/server/scripts/client-reference.ts). Do not edit:',
    '     apps/server/test/client-reference.test.ts fails when this file differs from what the router says. -->',
    '',
    `Every procedure of \`@aitbc/client\` (${procedures.length} of them), as \`createClient\` returns it:`,
    '',
    '```ts',
    "import { createClient } from '@aitbc/client';",
    '',
    "const aitbc = createClient({ url: process.env.AITBC_URL ?? 'http://127.0.0.1:8000', apiKey: process.env.AITBC_API_KEY });",
    "const agent = await aitbc.agent.register.mutate({ name: 'a1', capabilities: ['gpu'] }); // a mutation",
    'const { agents } = await aitbc.agent.list.query({ limit: 20 }); // a query',
    '```',
    '',
    'Each entry gives the call, the REST operation that does the same (when there is one; see `/openapi.json`), the key',
    'scope it needs ([SECURITY.md](../SECURITY.md#key-scopes)), and its input and output as TypeScript types: `?` marks',
    'a field that may be left out (in an input, also one with a default), and a comment is the field’s description.',
    'Limits on sizes are in [limits.md](limits.md). An error is a `TRPCClientError`; `describeError(error)` gives its',
    '`code` (`NOT_FOUND`, `UNAUTHORIZED`, …), HTTP status, message and field issues.',
    '',
    '| procedure | REST | key scope | what it does |',
    '| --- | --- | --- | --- |',
  ];
  for (const [path, procedure] of procedures) {
    const meta = procedure._def.meta;
    const rest = meta?.openapi ? `\`${meta.openapi.method} ${meta.openapi.path}\`` : '(tRPC only)';
    lines.push(`| [\`${path}\`](#${anchor(path)}) | ${rest} | ${meta?.scope ?? ''} | ${cell(summaryOf(path, meta, options))} |`);
  }
  if (options.named.length) {
    lines.push('', '## Types used below', '', '```ts');
    for (const named of options.named) lines.push(named.declarations.trim(), '');
    lines.pop();
    lines.push('```');
  }
  let namespace = '';
  for (const [path, procedure] of procedures) {
    const [space] = path.split('.');
    if (space !== namespace) {
      namespace = space!;
      lines.push('', `## ${namespace}`);
    }
    lines.push('', ...procedureSection(path, procedure, options));
  }
  return `${lines.join('\n')}\n`;
}

function procedureSection(path: string, procedure: Procedure, options: ReferenceOptions): string[] {
  const { type, meta, inputs, output } = procedure._def;
  const call = `aitbc.${path}.${CALL[type]}(${inputs.length ? 'input' : ''})`;
  const facts = [`\`${call}\``];
  if (meta?.openapi) facts.push(`\`${meta.openapi.method} ${meta.openapi.path}\`${meta.successStatus ? ` (${meta.successStatus})` : ''}`);
  facts.push(`key scope: ${meta?.scope ? SCOPES[meta.scope] : 'none'}`);
  const lines = [`### ${path}`, '', facts.join(' · '), ''];
  const summary = summaryOf(path, meta, options);
  if (summary) lines.push(sentence(summary), '');
  if (meta?.openapi?.description) lines.push(meta.openapi.description, '');
  if (type === 'subscription') lines.push('A subscription (server-sent events over `/trpc`): use it with `httpSubscriptionLink`.', '');
  const input = inputs.length
    ? render(jsonSchema(inputs.length === 1 ? inputs[0]! : z.intersection(inputs[0]!, inputs[1]!), 'input', options), 0)
    : 'none';
  lines.push('Input:', '', '```ts', input, '```', '');
  const out = output ? render(jsonSchema(output, 'output', options), 0) : type === 'subscription' ? 'a stream of events' : 'unknown';
  lines.push('Output:', '', '```ts', out, '```');
  return lines;
}

function summaryOf(path: string, meta: Meta | undefined, options: ReferenceOptions): string {
  return meta?.openapi?.summary ?? options.docComments.get(path) ?? '';
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output', options: ReferenceOptions): JsonSchema {
  return z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    override: (ctx) => {
      const named = options.named.find((n) => (n.schema as unknown) === ctx.zodSchema);
      if (named && io === 'input') (ctx.jsonSchema as JsonSchema)['x-client-type'] = named.name;
    },
  }) as JsonSchema;
}

/** A JSON Schema as a TypeScript type, objects one field a line with the field's description as a comment. */
function render(schema: JsonSchema | boolean | undefined, depth: number): string {
  if (schema === undefined || schema === true) return 'unknown';
  if (schema === false) return 'never';
  if (schema['x-client-type']) return schema['x-client-type'];
  if (schema.$ref) return schema.$ref.replace(/^#\/(\$defs|definitions)\//, '');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return [...new Set(union.map((s) => render(s, depth)))].join(' | ');
  if (schema.allOf) return schema.allOf.map((s) => wrap(render(s, depth))).join(' & ');
  if (schema.not && Object.keys(schema.not).length === 0) return 'never';
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.length > 1) return types.map((t) => render({ ...schema, type: t }, depth)).join(' | ');
  switch (types[0]) {
    case 'string':
      return 'string';
    case 'number':
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      if (schema.prefixItems) return `[${schema.prefixItems.map((s) => render(s, depth)).join(', ')}]`;
      return `${wrap(render(schema.items, depth))}[]`;
    case 'object':
      return renderObject(schema, depth);
    default:
      return 'unknown';
  }
}

function renderObject(schema: JsonSchema, depth: number): string {
  const properties = Object.entries(schema.properties ?? {});
  const extra = schema.additionalProperties;
  const extraType = extra === undefined || extra === false ? undefined : render(extra, depth + 1);
  if (properties.length === 0) return extraType ? `Record<string, ${extraType}>` : '{}';
  const pad = '  '.repeat(depth + 1);
  const required = new Set(schema.required ?? []);
  const lines = ['{'];
  for (const [name, field] of properties) {
    const notes = [field.description, field.default !== undefined ? `default ${JSON.stringify(field.default)}` : undefined].filter(Boolean);
    const key = /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
    lines.push(
      `${pad}${key}${required.has(name) ? '' : '?'}: ${render(field, depth + 1)};${notes.length ? ` // ${notes.join('; ')}` : ''}`,
    );
  }
  if (extraType) lines.push(`${pad}[key: string]: ${extraType};`);
  lines.push(`${'  '.repeat(depth)}}`);
  return lines.join('\n');
}

const wrap = (type: string) => (/[|&]/.test(type) && !/^[{[]/.test(type) ? `(${type})` : type);
const anchor = (path: string) => path.toLowerCase().replace(/[^a-z0-9]/g, '');
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const sentence = (text: string) => (/[.!?)]$/.test(text) ? text : `${text}.`);

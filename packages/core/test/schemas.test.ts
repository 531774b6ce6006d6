import { describe, expect, it } from 'vitest';
import {
  AgentRegister,
  AgentUpdate,
  actsFor,
  KeyCreate,
  type KeyScope,
  PageQuery,
  PROCEDURE_SCOPES,
  QueryBoolean,
  storedList,
  scopeAllows,
} from '../src/index.ts';

describe('agent schemas', () => {
  it('normalises capabilities: trimmed, lower-case, de-duplicated, order kept', () => {
    const a = AgentRegister.parse({ name: 'a1', capabilities: [' GPU', 'llm', 'gpu', 'LLM'] });
    expect(a.capabilities).toEqual(['gpu', 'llm']);
    expect(a.status).toBe('offline');
  });

  it('rejects names the CLI could not pass back (spaces, commas)', () => {
    for (const name of ['a b', 'a,b', '', ' '.repeat(3)]) expect(AgentRegister.safeParse({ name }).success, name).toBe(false);
    expect(AgentRegister.safeParse({ name: 'agent-1.gpu_west' }).success).toBe(true);
  });

  it('says an empty name is empty, and nothing about spaces or commas', () => {
    for (const name of ['', '   ']) {
      const messages = AgentRegister.safeParse({ name }).error!.issues.map((i) => i.message);
      expect(messages, JSON.stringify(name)).toEqual(['an agent name cannot be empty']);
    }
  });

  it('rejects unknown statuses and malformed tags with the field path', () => {
    const r = AgentRegister.safeParse({ name: 'x', status: 'asleep', capabilities: ['ok', 'not ok'] });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['status', 'capabilities.1']));
  });

  it('leaves unspecified fields out of an update, and keeps explicit nulls', () => {
    expect(AgentUpdate.parse({ agent_id: 'x' })).toEqual({ agent_id: 'x' });
    expect(AgentUpdate.parse({ agent_id: 'x', description: null })).toEqual({ agent_id: 'x', description: null });
  });
});

describe('shared query schemas', () => {
  it('coerces and bounds page sizes from query strings', () => {
    expect(PageQuery.parse({}).limit).toBe(50);
    expect(PageQuery.parse({ limit: '7' }).limit).toBe(7);
    expect(PageQuery.safeParse({ limit: '0' }).success).toBe(false);
    expect(PageQuery.safeParse({ limit: '501' }).success).toBe(false);
  });

  it('reads booleans from JSON and from query words', () => {
    expect(QueryBoolean.parse(true)).toBe(true);
    expect(QueryBoolean.parse('false')).toBe(false);
    expect(QueryBoolean.parse('1')).toBe(true);
    expect(QueryBoolean.safeParse('yes').success).toBe(false);
  });

  it('keeps owner ids to a safe alphabet; agents and members only on worker keys; scope and its older name agree', () => {
    expect(KeyCreate.parse({ owner_id: 'alice@example.com' })).toEqual({ owner_id: 'alice@example.com' });
    expect(KeyCreate.safeParse({ owner_id: '../etc' }).success).toBe(false);
    expect(KeyCreate.safeParse({ scope: 'worker', agents: ['a1'], members: ['m1'], expires_in_seconds: 60 }).success).toBe(true);
    expect(KeyCreate.safeParse({ role: 'worker', agents: ['a1'] }).success).toBe(true);
    expect(KeyCreate.safeParse({ agents: ['a1'] }).success).toBe(false);
    expect(KeyCreate.safeParse({ scope: 'read', members: ['m1'] }).success).toBe(false);
    expect(KeyCreate.safeParse({ scope: 'read', role: 'owner' }).success).toBe(false);
    expect(KeyCreate.safeParse({ expires_in_seconds: 0 }).success).toBe(false);
  });

  it('makes a worker key name what it works for: "all" explicitly, a list not named is none', () => {
    expect(KeyCreate.safeParse({ scope: 'worker' }).success).toBe(false);
    expect(KeyCreate.safeParse({ scope: 'worker', agents: [] }).success).toBe(false);
    expect(KeyCreate.safeParse({ scope: 'worker', agents: 'all' }).success).toBe(true);
    expect(KeyCreate.safeParse({ scope: 'worker', members: 'every' }).success).toBe(false);
    expect(storedList(undefined)).toEqual([]);
    expect(storedList('all')).toBeNull();
    expect(storedList(['a1', 'a1', 'a2'])).toEqual(['a1', 'a2']);
  });

  it('lets each scope reach exactly the procedures it should', () => {
    const reaches = (scope: KeyScope) => PROCEDURE_SCOPES.filter((needs) => scopeAllows(scope, needs));
    expect(reaches('worker')).toEqual(['any', 'worker']);
    expect(reaches('read')).toEqual(['any', 'read']);
    expect(reaches('owner')).toEqual(['any', 'worker', 'read', 'owner']);
    expect(reaches('admin')).toEqual(['any', 'worker', 'read', 'owner', 'admin']);
  });

  it('holds a worker key to the agents and members it names, and no other key', () => {
    const named = { scope: 'worker' as const, agents: ['a1'], members: storedList(undefined) };
    expect(actsFor(named, { kind: 'agent', id: 'a1' })).toBe(true);
    expect(actsFor(named, { kind: 'agent', id: 'a2' })).toBe(false);
    expect(actsFor(named, { kind: 'member', id: 'm9' })).toBe(false);
    expect(actsFor({ scope: 'worker', agents: ['a1'], members: null }, { kind: 'member', id: 'm9' })).toBe(true);
    expect(actsFor({ scope: 'worker', agents: [], members: [] }, { kind: 'member', id: 'm1' })).toBe(false);
    expect(actsFor({ scope: 'owner', agents: ['a1'], members: null }, { kind: 'agent', id: 'a2' })).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { AgentRegister, AgentUpdate, KeyCreate, PageQuery, QueryBoolean } from '../src/index.ts';

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

  it('keeps owner ids to a safe alphabet and defaults keys to the owner role', () => {
    expect(KeyCreate.parse({ owner_id: 'alice@example.com' })).toMatchObject({ role: 'owner' });
    expect(KeyCreate.safeParse({ owner_id: '../etc' }).success).toBe(false);
  });
});

import type { AgentList, KeyCreated, KeyView } from '@aitbc/core';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { renderAgentList } from '../src/cmd/agent/list.ts';
import { renderKeyCreated } from '../src/cmd/keys/create.ts';
import { renderKeyList } from '../src/cmd/keys/list.ts';
import { formatOutput, formatValue, renderFields, renderTable, truncate } from '../src/output.ts';

const longText = 'word '.repeat(100).trim();

function agent(i: number, over: Partial<AgentList['agents'][number]> = {}): AgentList['agents'][number] {
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    name: `agent-${i}`,
    description: null,
    capabilities: ['gpu', 'llm'],
    status: 'online',
    last_seen: '2026-11-25T06:51:33.123Z',
    owner_id: 'alice',
    created_at: '2026-11-25T06:50:00.000Z',
    updated_at: '2026-11-25T06:51:33.123Z',
    ...over,
  };
}

function widest(text: string): number {
  return Math.max(...text.split('\n').map((l) => [...l].length));
}

describe('table output', () => {
  it('keeps tables within 80 columns however long the values, cutting cells with "…" but never ids', () => {
    const list: AgentList = {
      agents: [agent(1, { name: 'n'.repeat(128), capabilities: Array.from({ length: 40 }, (_, i) => `capability-${i}`) }), agent(2)],
      total_count: 2,
      next_cursor: null,
    };
    const text = renderAgentList(list);
    expect(widest(text)).toBeLessThanOrEqual(80);
    const rows = text.split('\n');
    expect(rows[0]).toMatch(/^ID\s+NAME\s+STATUS\s+CAPABILITIES$/);
    expect(rows[1]).toContain(list.agents[0]!.id);
    expect(rows[1]).toMatch(/n…\s/);
    expect(rows[1]).toMatch(/ capability-0,\S*…$/);
    expect(rows[2]).toMatch(/agent-2\s+online\s+gpu,llm$/);
  });

  it('leaves a table that fits alone', () => {
    const text = renderTable(
      [{ a: 'x', b: ['gpu', 'llm'] }],
      [
        { header: 'A', value: (r) => r.a },
        { header: 'TAGS', value: (r) => r.b, flex: true },
      ],
    );
    expect(text).toBe('A  TAGS\nx  gpu,llm\n');
  });

  it('puts cell text on one line', () => {
    expect(formatValue('two\nlines\t here')).toBe('two lines here');
  });

  it('shortens API timestamps to the minute and shows null as "-"', () => {
    expect(formatValue('2026-11-25T06:51:33.123Z')).toBe('2026-11-25 06:51');
    expect(formatValue(null)).toBe('-');
    expect(formatValue([])).toBe('-');
    expect(formatValue('2026 was a year')).toBe('2026 was a year');
  });

  it('truncates by characters, not bytes', () => {
    expect(truncate('ααααα', 3)).toBe('αα…');
    expect(truncate('abc', 3)).toBe('abc');
  });

  it('footers a list with the count and the command for the next page', () => {
    const text = renderAgentList({ agents: [agent(1)], total_count: 3, next_cursor: 'CURSOR123' });
    expect(text).toMatch(/\n1 of 3 agents\nnext page: aitbc agent list --cursor CURSOR123\n$/);
    expect(renderAgentList({ agents: [], total_count: 0, next_cursor: null })).toBe('0 of 0 agents\n');
  });

  it('prints one object as aligned key: value lines within 80 columns', () => {
    const text = renderFields(agent(7, { description: longText }));
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(9);
    const valueColumns = lines.map((l) => /^\w+: +/.exec(l)?.[0].length);
    expect(new Set(valueColumns)).toEqual(new Set([14])); // "capabilities: " is the longest key
    expect(lines).toContain('capabilities: gpu,llm');
    expect(lines).toContain('last_seen:    2026-11-25 06:51');
    expect(lines.find((l) => l.startsWith('description:'))).toMatch(/^description: +word word .*…$/);
    expect(widest(text)).toBeLessThanOrEqual(80);
  });

  it('shows a new key whole, on its own line, and says it is shown once', () => {
    const created: KeyCreated = {
      id: 'k1',
      owner_id: 'alice',
      role: 'owner',
      prefix: 'aitbc_Ab3dEf',
      label: null,
      created_at: '2026-11-25T06:51:00.000Z',
      revoked_at: null,
      key: 'aitbc_Ab3dEfGh1jKlMn0pQrStUvWxYz0123456789abcdEFG',
    };
    const text = renderKeyCreated(created);
    expect(text.split('\n')).toContain(`  ${created.key}`);
    expect(text).toMatch(/shown only this once/);
    expect(text).toMatch(/^prefix: +aitbc_Ab3dEf$/m);
  });

  it('adds a STATE column to the key list only when revoked keys are in it, and shows a label whole, last', () => {
    const key = (id: string, revoked_at: string | null): KeyView => ({
      id: `00000000-0000-4000-8000-00000000000${id}`,
      owner_id: 'someone-with-a-really-long-owner-name@example.com',
      role: 'owner',
      prefix: 'aitbc_Ab3dEf',
      label: longText,
      created_at: '2026-11-25T06:51:00.000Z',
      revoked_at,
    });
    const active = renderKeyList({ keys: [key('1', null)] });
    expect(active).not.toMatch(/STATE/);
    const mixed = renderKeyList({ keys: [key('1', null), key('2', '2026-11-25T07:00:00.000Z')] });
    expect(mixed.split('\n')[0]).toMatch(/STATE +LABEL$/);
    expect(mixed).toMatch(/revoked +word word[^\n]*\n\n2 keys \(1 revoked\)\n$/);
    // Whole, however long; the columns before it still fit 80.
    expect(mixed).toContain(longText);
    expect(widest(mixed.replaceAll(longText, ''))).toBeLessThanOrEqual(80);
  });
});

describe('json and yaml output', () => {
  const data = {
    agents: [agent(1, { description: 'ünïcødé: "quotes", colons: and\nnewlines', capabilities: [] }), agent(2, { last_seen: null })],
    total_count: 2,
    next_cursor: 'yes: no',
  };
  const table = () => {
    throw new Error('table mode only');
  };

  it('prints the data as 2-space JSON that parses back to the same data', () => {
    const text = formatOutput('json', data, table);
    expect(text).toMatch(/^\{\n {2}"agents": \[\n/);
    expect(JSON.parse(text)).toEqual(data);
  });

  it('prints YAML that parses back to the same data (timestamps stay strings)', () => {
    const text = formatOutput('yaml', data, table);
    expect(parseYaml(text)).toEqual(data);
  });
});

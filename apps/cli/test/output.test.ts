import type { AgentList, AuditEntry, KeyCreated, KeyView } from '@aitbc/core';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { renderAgentList } from '../src/cmd/agent/list.ts';
import { renderKeyCreated } from '../src/cmd/keys/create.ts';
import { renderKeyList } from '../src/cmd/keys/list.ts';
import { renderWhoami } from '../src/cmd/keys/whoami.ts';
import { renderAuditList } from '../src/cmd/audit/list.ts';
import { duration, durationSeconds } from '../src/flags.ts';
import { agoText, expiresText, formatOutput, formatValue, renderFields, renderTable, spanText, truncate } from '../src/output.ts';

const longText = 'word '.repeat(100).trim();

function agent(i: number, over: Partial<AgentList['agents'][number]> = {}): AgentList['agents'][number] {
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    name: `agent-${i}`,
    description: null,
    capabilities: ['gpu', 'llm'],
    status: 'online',
    host: null,
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

  it('shows a list of objects or lists as JSON, brackets and all, even cut to its column', () => {
    const reduced = [{ sum: 6 }, { sum: 4 }];
    expect(formatValue(reduced)).toBe('[{"sum":6},{"sum":4}]');
    expect(formatValue([[1, 2], [3]])).toBe('[[1,2],[3]]');
    expect(renderFields({ reduced }, 20)).toBe('reduced: [{"sum":6}…\n');
    // Plain values stay a comma list.
    expect(formatValue(['gpu', 'llm', 3, null])).toBe('gpu,llm,3,-');
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
    expect(lines).toHaveLength(10);
    const valueColumns = lines.map((l) => /^\w+: +/.exec(l)?.[0].length);
    expect(new Set(valueColumns)).toEqual(new Set([14])); // "capabilities: " is the longest key
    expect(lines).toContain('capabilities: gpu,llm');
    expect(lines).toContain('last_seen:    2026-11-25 06:51');
    expect(lines.find((l) => l.startsWith('description:'))).toMatch(/^description: +word word .*…$/);
    expect(widest(text)).toBeLessThanOrEqual(80);
  });

  const NOW = Date.parse('2026-11-25T07:00:00.000Z');

  function keyView(over: Partial<KeyView> = {}): KeyView {
    return {
      id: '00000000-0000-4000-8000-000000000001',
      owner_id: 'alice',
      scope: 'owner',
      role: 'owner',
      agents: null,
      members: null,
      prefix: 'aitbc_Ab3dEf',
      label: null,
      created_at: '2026-11-25T06:51:00.000Z',
      expires_at: null,
      revoked_at: null,
      last_used_at: null,
      replaced_by: null,
      ...over,
    };
  }

  it('shows a new key whole, on its own line, and says it is shown once', () => {
    const created: KeyCreated = { ...keyView(), key: 'aitbc_Ab3dEfGh1jKlMn0pQrStUvWxYz0123456789abcdEFG' };
    const text = renderKeyCreated(created, NOW);
    expect(text.split('\n')[0]).toBe('New owner API key for alice. It is shown only this once; store it now:');
    expect(text.split('\n')).toContain(`  ${created.key}`);
    expect(text).toMatch(/^prefix: +aitbc_Ab3dEf$/m);
    expect(text).toMatch(/^scope: +owner$/m);
    expect(text).toMatch(/^expires_at: +never$/m);
    expect(text).not.toMatch(/^(agents|members|role):/m);
  });

  it("shows a worker key's agents, members and when it expires", () => {
    const created: KeyCreated = {
      ...keyView({ scope: 'worker', role: 'worker', agents: ['agent-1'], expires_at: '2026-11-25T08:00:00.000Z' }),
      key: 'aitbc_x',
    };
    const text = renderKeyCreated(created, NOW);
    expect(text.split('\n')[0]).toMatch(/^New worker API key for alice\./);
    expect(text).toMatch(/^agents: +agent-1$/m);
    expect(text).toMatch(/^members: +all of alice's members$/m);
    expect(text).toMatch(/^expires_at: +2026-11-25 08:00 UTC \(in 1h\)$/m);
  });

  it('adds a STATE column to the key list only when revoked keys are in it, and shows a label whole, last', () => {
    const key = (id: string, revoked_at: string | null): KeyView =>
      keyView({
        id: `00000000-0000-4000-8000-00000000000${id}`,
        owner_id: 'someone-with-a-really-long-owner-name@example.com',
        label: longText,
        revoked_at,
      });
    const active = renderKeyList({ keys: [key('1', null)] }, NOW);
    expect(active).not.toMatch(/STATE/);
    const mixed = renderKeyList({ keys: [key('1', null), key('2', '2026-11-25T07:00:00.000Z')] }, NOW);
    expect(mixed.split('\n')[0]).toMatch(/^ID +SCOPE +EXPIRES +LAST USED +STATE +LABEL$/);
    expect(mixed).toMatch(/revoked +word word[^\n]*\n\n2 keys of someone-with-a-really-long-owner-name@example\.com \(1 revoked\)\n$/);
    // Whole, however long; the columns before it still fit 80.
    expect(mixed).toContain(longText);
    expect(widest(mixed.replaceAll(longText, ''))).toBeLessThanOrEqual(80);
  });

  it("lists scope, expiry and last use; an OWNER column when the keys are several owners', leaving out what does not fit", () => {
    const keys = [
      keyView({ scope: 'worker', expires_at: '2026-11-26T07:00:00.000Z', last_used_at: '2026-11-25T06:55:00.000Z', label: 'ci' }),
      keyView({ id: '00000000-0000-4000-8000-000000000002', owner_id: 'bob', expires_at: '2026-11-25T06:00:00.000Z' }),
    ];
    const text = renderKeyList({ keys }, NOW);
    const rows = text.split('\n');
    expect(rows[0]).toMatch(/^ID +OWNER +SCOPE +EXPIRES +LAST USED +LABEL$/);
    expect(rows[1]).toMatch(/ alice +worker +in 24h +5m ago +ci$/);
    expect(rows[2]).toMatch(/ bob +owner +expired +never +-$/);
    expect(text).toMatch(/\n\n2 keys\n$/);
    // Several owners and a revoked key: LAST USED gives way, the rest still fits.
    const withRevoked = renderKeyList({ keys: [...keys, keyView({ revoked_at: '2026-11-25T06:59:00.000Z', label: longText })] }, NOW);
    expect(withRevoked.split('\n')[0]).toMatch(/^ID +OWN\S* +SCOPE +EXPIRES +STATE +LABEL$/);
    expect(widest(withRevoked.replaceAll(longText, ''))).toBeLessThanOrEqual(80);
  });

  it('shows a worker key in whoami with its agents by name, members and expiry', () => {
    const text = renderWhoami(
      {
        owner_id: 'alice',
        scope: 'worker',
        role: 'worker',
        key_id: 'k1',
        agents: ['id-1', 'id-2'],
        members: ['m-1'],
        expires_at: '2026-11-25T07:30:00.000Z',
        agent_names: { 'id-1': 'gpu-box' },
      },
      'http://127.0.0.1:8000',
      NOW,
    );
    expect(text).toMatch(/^scope: +worker$/m);
    expect(text).toMatch(/^agents: +gpu-box \(id-1\), id-2$/m);
    expect(text).toMatch(/^members: +m-1$/m);
    expect(text).toMatch(/^expires_at: +2026-11-25 07:30 UTC \(in 30m\)$/m);
    expect(text).not.toMatch(/^(role|agent_names):/m);
  });

  it('draws the audit log within 80 columns, when and what whole', () => {
    const entry = (action: AuditEntry['action'], keyId: string | null): AuditEntry => ({
      id: 'e1',
      at: '2026-11-25T06:51:33.000Z',
      action,
      owner_id: 'alice',
      target_id: '00000000-0000-4000-8000-000000000001',
      actor_owner_id: 'admin',
      actor_key_id: keyId,
      ip: '127.0.0.1',
      request_id: '11111111-2222-4333-8444-555555555555',
      detail: null,
    });
    const text = renderAuditList({ entries: [entry('execution.cancel', 'k-1'), entry('key.create', null)], next_cursor: 'C1' });
    const rows = text.split('\n');
    expect(rows[0]).toMatch(/^WHEN +ACTION +TARGET +BY +IP +REQUEST( ID|\S*)$/);
    expect(rows[1]).toMatch(/^2026-11-25 06:51 +execution\.cancel +0000\S+ +admin\/k-1 +127\S+ +1111\S+$/);
    expect(rows[2]).toMatch(/^2026-11-25 06:51 +key\.create +0000\S+ +admin +127\S+ +1111\S+$/);
    expect(widest(text)).toBeLessThanOrEqual(80);
    expect(text).toMatch(/\n2 entries of alice\nnext page: the same command with --cursor C1 \(or --all\)\n$/);
    // Entries of several owners get an OWNER column.
    const several = renderAuditList({
      entries: [entry('key.create', null), { ...entry('key.revoke', null), owner_id: 'bob' }],
      next_cursor: null,
    });
    expect(several.split('\n')[0]).toMatch(/^WHEN +ACTION +TARGET +OWNER +BY +IP +REQUEST( ID|\S*)$/);
    expect(widest(several)).toBeLessThanOrEqual(80);
    expect(several).toMatch(/\n2 entries\n$/);
  });
});

describe('durations', () => {
  it('says how long, rounded, in its largest unit: a key made for an hour expires "in 1h", not "in 59m"', () => {
    expect([30, 3599, 5399, 86_399, 47 * 3600, 14 * 86_400 - 5, 400 * 86_400].map(spanText)).toEqual([
      '30s',
      '1h',
      '1h',
      '24h',
      '47h',
      '14d',
      '1y',
    ]);
    expect(expiresText(null, 0)).toBe('never');
    expect(expiresText('1970-01-01T00:00:00.000Z', 1)).toBe('expired');
    expect(agoText('1970-01-01T00:00:00.000Z', 300_000)).toBe('5m ago');
  });

  it('reads 45s, 90m, 12h, 30d, 2w, 1h30m and bare seconds; refuses anything else', () => {
    expect(['45s', '90m', '12h', '30d', '2w', '1h30m', '600', '0'].map(durationSeconds)).toEqual([
      45, 5400, 43200, 2592000, 1209600, 5400, 600, 0,
    ]);
    for (const bad of ['', '1x', 'h', '1.5h', '-1h', '1 h', 'soon']) expect(durationSeconds(bad)).toBeNull();
    expect(duration(1, 3600)('1h')).toBe(3600);
    expect(() => duration(1, 3600)('2h')).toThrow('Expected a duration from 1s to 1h.');
    expect(() => duration(1, 3600)('0')).toThrow('Expected a duration from 1s to 1h.');
    expect(() => duration(0, 3600)('tomorrow')).toThrow('Expected a duration such as 30d, 12h, 90m, 45s or 2w (from 0s to 1h).');
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

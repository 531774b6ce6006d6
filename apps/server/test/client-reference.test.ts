// docs/client.md is the reference of every procedure the client can call,
// generated from the router (scripts/client-reference.ts): it must say what
// the router says now, as the generated Prisma schema must (generate.mjs --check).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateClientReference, referenceFile } from '../scripts/client-reference.ts';
import { listProcedures } from './support/procedures.ts';

describe('docs/client.md', () => {
  const generated = generateClientReference();

  it('is what the router says now (run `pnpm docs:client` after changing a procedure)', () => {
    const committed = readFileSync(referenceFile, 'utf8');
    // One line of the difference, for the failure message; toBe would print two 2,000-line strings.
    const a = committed.split('\n');
    const b = generated.split('\n');
    const line = a.findIndex((text, i) => text !== b[i]);
    expect(line === -1 && a.length === b.length, `docs/client.md line ${line + 1}: ${a[line]} ≠ ${b[line]}`).toBe(true);
  });

  it('has every procedure with its call, REST operation, key scope, input and output', () => {
    for (const proc of listProcedures()) {
      const section = generated.split(`\n### ${proc.path}\n`)[1]?.split('\n### ')[0];
      expect(section, proc.path).toBeDefined();
      const verb = { query: 'query', mutation: 'mutate', subscription: 'subscribe' }[proc.type];
      expect(section).toContain(`\`aitbc.${proc.path}.${verb}(`);
      if (proc.rest) expect(section).toContain(`\`${proc.rest.method} ${proc.rest.path}\``);
      expect(section).toMatch(/key scope: \w/);
      expect(section).toContain('Input:');
      expect(section).toContain('Output:');
      // Every procedure says what it does: an OpenAPI summary, or its doc comment in the router.
      expect(generated, proc.path).not.toMatch(new RegExp(`\\| \\[\`${proc.path.replace('.', '\\.')}\`\\].*\\|  \\|$`, 'm'));
    }
  });

  it('writes the task a client sends as the typed shapes, defined in the file', () => {
    const execute = generated.split('\n### execution.execute\n')[1]!.split('\n### ')[0]!;
    expect(execute).toMatch(/^ {2}task: NetworkTaskInput;$/m);
    expect(generated).toMatch(/^type NetworkTaskInput = ItemsTask \| SubtasksTask \| CustomTask;$/m);
    expect(generated).toMatch(/^interface ItemsTask \{\n {2}items: unknown\[\];$/m);
    expect(generated).toContain('chunk_size?: number;');
  });

  it('is linked from the README', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    expect(readme.includes('(docs/client.md)'), 'README.md links docs/client.md').toBe(true);
  });
});

// /openapi.json through Spectral's `spectral:oas` ruleset (what `spectral lint`
// runs by default for an OpenAPI document): no errors and no warnings. The
// document is the one the server serves, built from the router.
import { createRequire } from 'node:module';
import spectralCore from '@stoplight/spectral-core';
import { Json } from '@stoplight/spectral-parsers';
import { oas } from '@stoplight/spectral-rulesets';
import { describe, expect, it } from 'vitest';
import { openApiDocument, successStatuses } from '../src/openapi.ts';
import { appRouter } from '../src/routers/index.ts';

const { Document, Spectral } = spectralCore;
const SEVERITY = ['error', 'warning', 'info', 'hint'] as const;

describe('/openapi.json', () => {
  const doc = openApiDocument(appRouter, successStatuses(appRouter));

  it('passes the spectral:oas ruleset with no errors and no warnings', async () => {
    // A node_modules installed before Spectral was added may lack its tslib 2 (pnpm keeps tslib@2 in its list of
    // skipped optional packages, from when only other platforms' packages needed it): Spectral then fails with
    // "privateMap.get is not a function". Say so, and how to mend it.
    const spectralRequire = createRequire(createRequire(import.meta.url).resolve('@stoplight/spectral-core'));
    const tslib = spectralRequire('tslib/package.json') as { version: string };
    expect(
      tslib.version.startsWith('2.'),
      `@stoplight/spectral-core resolves tslib ${tslib.version}, not 2.x: remove node_modules and run \`npx -y pnpm@10.34.8 install --frozen-lockfile\``,
    ).toBe(true);

    const spectral = new Spectral();
    spectral.setRuleset({ extends: [oas as never] });
    const results = await spectral.run(new Document(JSON.stringify(doc, null, 2), Json));
    const found = results.map((r) => `${SEVERITY[r.severity]} ${r.code} at ${r.path.join('.')}: ${r.message}`);
    expect(
      found.filter((r) => r.startsWith('error ') || r.startsWith('warning ')),
      found.join('\n'),
    ).toEqual([]);
  });

  it('defines every tag its operations use, each with a description (Swagger UI groups and explains them)', () => {
    const used = new Set<string>();
    for (const item of Object.values(doc.paths ?? {}))
      for (const op of Object.values(item as Record<string, { tags?: string[] }>)) for (const tag of op?.tags ?? []) used.add(tag);
    expect(used.size).toBeGreaterThan(0);
    expect((doc.tags ?? []).map((t) => t.name).sort()).toEqual([...used].sort());
    for (const tag of doc.tags ?? []) expect(tag.description, tag.name).toMatch(/\w{3,}.*\w/);
    expect(doc.info.contact).toBeDefined();
  });
});

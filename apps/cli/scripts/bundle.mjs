#!/usr/bin/env node
// Builds the published `aitbc` command (run by `build` and `prepack`): one ES
// module, dist/aitbc.mjs, with everything it runs bundled in (commander, yaml,
// the tRPC client, @aitbc/client, @aitbc/core, zod), so the packed package has
// no dependencies and plain Node 20 runs it, without tsx.
//
// The one import left out is @aitbc/server, which only `aitbc server start`
// loads: the published CLI has no server (no Prisma, no better-sqlite3), and
// that command says how to run one (src/cmd/server/start.ts). In the
// workspace, bin/aitbc.mjs runs the TypeScript sources as before.
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('..', import.meta.url));
const outfile = 'dist/aitbc.mjs';
rmSync(join(here, 'dist'), { recursive: true, force: true });

const { metafile } = await build({
  absWorkingDir: here,
  entryPoints: ['src/main.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['@aitbc/server'],
  // Bundled CommonJS (commander) requires Node's built-in modules.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __aitbcCreateRequire } from 'node:module';\nconst require = __aitbcCreateRequire(import.meta.url);",
  },
  legalComments: 'eof',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  metafile: true,
});

// Nothing but Node's built-in modules and the server may be left to resolve at run time.
const stray = metafile.outputs[outfile].imports.filter(
  (i) => i.external && !i.path.startsWith('node:') && !builtinModules.includes(i.path) && i.path !== '@aitbc/server',
);
if (stray.length > 0) {
  console.error(`@aitbc/cli build: ${outfile} still imports ${[...new Set(stray.map((i) => i.path))].join(', ')}`);
  process.exit(1);
}
// The bundled packages' licenses go with them.
const packages = new Map();
for (const input of Object.keys(metafile.outputs[outfile].inputs)) {
  const match = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input);
  if (match?.[1] && match[2]) packages.set(match[2], join(here, match[1]));
}
const notices = [...packages]
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([name, dir]) => {
    const { version, license } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
    const notice = existsSync(join(dir, 'NOTICE')) ? `\n${readFileSync(join(dir, 'NOTICE'), 'utf8').trim()}\n` : '';
    const text = file ? readFileSync(join(dir, file), 'utf8').trim() : `(no license file; package.json says ${license})`;
    return `${name}@${version} (${license})\n\n${text}\n${notice}`;
  });
writeFileSync(
  join(here, 'dist/THIRD-PARTY-LICENSES.txt'),
  `dist/aitbc.mjs bundles these packages:\n\n${notices.join(`\n${'-'.repeat(72)}\n\n`)}`,
);

console.log(`@aitbc/cli: ${outfile} ${(statSync(new URL(`../${outfile}`, import.meta.url)).size / 1024).toFixed(0)} kB`);

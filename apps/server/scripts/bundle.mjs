#!/usr/bin/env node
// Compiles the server to one ES module, dist/aitbc-server.mjs, for operators
// and the benchmarks: plain Node then runs it, without tsx's loader, its
// source maps and its transform cache resident in the process. The
// workspace's TypeScript (this package, @aitbc/core, the generated Prisma
// clients) goes into the bundle; every npm dependency stays an import,
// resolved from node_modules at run time as before.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('..', import.meta.url));
const npmDependencies = {
  name: 'npm-dependencies-external',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@aitbc/') ? undefined : { path: args.path, external: true }));
  },
};

await build({
  absWorkingDir: here,
  entryPoints: ['src/main.ts'],
  outfile: 'dist/aitbc-server.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  plugins: [npmDependencies],
  logLevel: 'warning',
  banner: { js: '#!/usr/bin/env node' },
});

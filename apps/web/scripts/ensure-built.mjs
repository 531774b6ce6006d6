#!/usr/bin/env node
// The dashboard the server serves at /, built on the first `pnpm start` of a
// checkout (vite build, about half a minute) so the quick start serves it
// without a separate `pnpm build`. Later starts find dist/ and do nothing;
// `pnpm build` rebuilds it.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(join(web, 'dist', 'index.html'))) {
  process.stderr.write('aitbc: building the dashboard (first start only)\n');
  execFileSync(process.execPath, [join(web, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], {
    cwd: web,
    stdio: 'inherit',
  });
}

#!/usr/bin/env node
// Builds the published form of @aitbc/client (run by `build` and `prepack`):
//
//   dist/index.js    one ES module: the client, the worker SDK and the parts of
//                    @aitbc/core they use; npm dependencies stay imports.
//   dist/index.d.ts  one declaration file: the client's types with the server's
//                    AppRouter inlined, so a consumer needs no workspace and no
//                    server sources, only the npm packages in `dependencies`.
//
// The workspace itself keeps using src/ (package.json `exports`); the packed
// package.json points at dist/ (`publishConfig`).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { rollup } from 'rollup';
import { dts } from 'rollup-plugin-dts';
import ts from 'typescript';

const here = fileURLToPath(new URL('..', import.meta.url));
const repo = resolve(here, '../..');
const dist = join(here, 'dist');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));

function fail(message) {
  console.error(`@aitbc/client build: ${message}`);
  process.exit(1);
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);

// 1. JavaScript. @aitbc/core is bundled in; its modules only define constants,
// schemas and functions, so what the client does not use is dropped.
const coreSrc = join(repo, 'packages/core/src');
const workspaceInline = {
  name: 'workspace-inline',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path === '@aitbc/core') return { path: join(coreSrc, 'index.ts'), sideEffects: false };
      if (args.path.startsWith('@aitbc/')) return { errors: [{ text: `${args.path} cannot be part of the published client` }] };
      return { path: args.path, external: true };
    });
    b.onResolve({ filter: /^\./ }, (args) =>
      args.importer.startsWith(coreSrc) ? { path: resolve(dirname(args.importer), args.path), sideEffects: false } : undefined,
    );
  },
};
await build({
  absWorkingDir: here,
  entryPoints: ['src/index.ts'],
  outfile: 'dist/index.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  plugins: [workspaceInline],
  logLevel: 'warning',
});

// 2. Declarations: tsc emits them for the client and what it imports from the
// workspace (tsconfig.build.json), then rollup-plugin-dts makes one file.
const declDir = mkdtempSync(join(tmpdir(), 'aitbc-client-dts-'));
try {
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', declDir], {
    cwd: here,
    stdio: 'inherit',
  });
  if (tsc.status !== 0) fail('tsc could not emit the declarations');

  const decl = (path) => join(declDir, relative(repo, path));
  // The client uses the server's router type, and nothing else of it.
  const serverEntry = decl(join(repo, 'apps/server/src/client-types.d.ts'));
  writeFileSync(serverEntry, "export type { AppRouter } from './routers/index.ts';\n");
  // The router's type names the server's request context and procedure
  // metadata: neither is anything a client sends or receives, and their
  // declarations reach into the server (database, Fastify, Prisma).
  const serverTrpc = decl(join(repo, 'apps/server/src/trpc.d.ts'));
  writeFileSync(serverTrpc, clientSideOfTrpc(readFileSync(serverTrpc, 'utf8')));

  const workspaceTypes = {
    name: 'workspace-types',
    resolveId(source, importer) {
      if (source === '@aitbc/server') return serverEntry;
      if (source === '@aitbc/core') return decl(join(coreSrc, 'index.d.ts'));
      if (source.startsWith('@aitbc/')) return this.error(`${source} cannot be part of the published client`);
      if (source.startsWith('.') && importer) return `${resolve(dirname(importer), source).replace(/\.(d\.)?[cm]?[tj]s$/, '')}.d.ts`;
      return null;
    },
  };

  const bundle = await rollup({
    input: decl(join(here, 'src/index.d.ts')),
    plugins: [workspaceTypes, dts({ respectExternal: true })],
    external: (id) => /^[^./\0]/.test(id) && !id.startsWith('@aitbc/') && !id.startsWith(declDir),
    onwarn(warning) {
      fail(`rollup: ${warning.message}`);
    },
  });
  await bundle.write({ file: join(dist, 'index.d.ts'), format: 'es' });
  await bundle.close();
  inlineZodTypes(join(dist, 'index.d.ts'));
} finally {
  rmSync(declDir, { recursive: true, force: true });
}

// 3. What the package promises: no workspace left in it, every import a dependency.
const deps = new Set(Object.keys(pkg.dependencies ?? {}));
for (const file of ['index.js', 'index.d.ts']) {
  const text = readFileSync(join(dist, file), 'utf8');
  if (/@aitbc\/|apps\/server|packages\/core/.test(text)) fail(`dist/${file} still refers to the workspace`);
  for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*["']([^"'.][^"']*)["']/g)) {
    const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
    if (!spec.startsWith('node:') && !deps.has(name)) fail(`dist/${file} imports ${spec}, which is not in dependencies`);
  }
}
// …and the declarations type-check on their own (strict, library checks on).
const check = join(dist, '.check.ts');
writeFileSync(check, "import type { AitbcClient } from './index.js';\nexport type Check = AitbcClient;\n");
try {
  const program = ts.createProgram([check], {
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: ['node'],
  });
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName.startsWith(dist));
  if (diagnostics.length > 0) fail(`dist/index.d.ts does not type-check:\n${ts.formatDiagnostics(diagnostics, ts.createCompilerHost({}))}`);
} finally {
  rmSync(check, { force: true });
}

const kb = (file) => `${(statSync(join(dist, file)).size / 1024).toFixed(0)} kB`;
console.log(`@aitbc/client: dist/index.js ${kb('index.js')}, dist/index.d.ts ${kb('index.d.ts')}`);

/**
 * The declarations without zod: a type that core declares as `z.infer<typeof
 * Schema>` is written out as the object type it is, and the schema constant
 * it came from dropped. A consumer then type-checks the client without
 * loading zod's declarations, which under TypeScript's defaults (no
 * esModuleInterop, library checks on: `tsc main.ts` in an `npm init` project)
 * give some 60 TS1259 errors from zod/v4/locales that bury the consumer's own.
 */
function inlineZodTypes(file) {
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const printer = ts.createPrinter({ removeComments: true });
  const usesZod = (node) => /\bz\./.test(node.getText(source));
  const edits = [];
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && statement.moduleSpecifier.text === 'zod') {
      edits.push({ start: statement.getFullStart(), end: statement.getEnd(), text: '' });
    } else if (ts.isTypeAliasDeclaration(statement) && usesZod(statement.type)) {
      const flags = ts.NodeBuilderFlags.NoTruncation | ts.NodeBuilderFlags.MultilineObjectLiterals | ts.NodeBuilderFlags.InTypeAlias;
      const node = checker.typeToTypeNode(checker.getTypeFromTypeNode(statement.type), undefined, flags);
      if (!node) fail(`cannot write out the type ${statement.name.text}`);
      edits.push({
        start: statement.type.getStart(source),
        end: statement.type.getEnd(),
        text: printer.printNode(ts.EmitHint.Unspecified, node, source),
      });
    } else if (ts.isVariableStatement(statement) && usesZod(statement)) {
      // The schema itself: a value the published client neither exports nor uses.
      if (statement.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) fail('dist/index.d.ts exports a zod schema');
      edits.push({ start: statement.getFullStart(), end: statement.getEnd(), text: '' });
    }
  }
  let text = source.getFullText();
  for (const edit of edits.sort((a, b) => b.start - a.start)) text = text.slice(0, edit.start) + edit.text + text.slice(edit.end);
  if (/\bz\.|from 'zod/.test(text)) fail('dist/index.d.ts still refers to zod');
  writeFileSync(file, text);
}

/**
 * The server's trpc.d.ts as the client's types see it: `Context` and `Meta`
 * opaque, the other type declarations (the error shape's FieldIssue) as they
 * are, and nothing else (no imports, no values).
 */
function clientSideOfTrpc(text) {
  const source = ts.createSourceFile('trpc.d.ts', text, ts.ScriptTarget.Latest, true);
  const kept = [
    "/** The server's request context: nothing a client sends or receives. */",
    'export type Context = object;',
    "/** The server's procedure metadata (REST paths, scopes): not part of a call. */",
    'export type Meta = object;',
  ];
  for (const statement of source.statements) {
    const isType = ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement);
    if (isType && statement.name.text !== 'Context' && statement.name.text !== 'Meta') kept.push(statement.getFullText(source).trim());
  }
  return `${kept.join('\n')}\n`;
}

#!/usr/bin/env -S npx tsx
// Writes docs/client.md, the reference of every procedure the client can
// call, from the router (src/client-reference.ts renders it). `--check` only
// compares, and exits 1 when the committed file is out of date:
//
//   pnpm docs:client            # after changing a procedure, its schema or its summary
//   pnpm docs:client --check
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { NetworkTask } from '@aitbc/core';
import { clientReference } from '../src/client-reference.ts';
import { appRouter } from '../src/routers/index.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const routers = join(repo, 'apps/server/src/routers');
export const referenceFile = join(repo, 'docs/client.md');

export function generateClientReference(): string {
  return clientReference(appRouter, {
    docComments: procedureDocComments(),
    named: [
      {
        schema: NetworkTask,
        name: 'NetworkTaskInput',
        declarations: declarationsOf(join(repo, 'packages/core/src/schemas/network.ts'), [
          'NetworkTaskInput',
          'ItemsTask',
          'SubtasksTask',
          'CustomTask',
          'Reducer',
        ]),
      },
    ],
  });
}

const parse = (file: string) => ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);

/** Each procedure's doc comment in its router's source (`/** … *\/` before `name: builder…`), first paragraph, one line. */
function procedureDocComments(): Map<string, string> {
  // index.ts: `key: keyRouter` says which name each router is mounted at.
  const mounted = new Map<string, string>();
  visitObjects(parse(join(routers, 'index.ts')), (name, value) => {
    if (ts.isIdentifier(value)) mounted.set(value.text, name);
  });
  const comments = new Map<string, string>();
  for (const file of readdirSync(routers).filter((f) => f.endsWith('.ts') && f !== 'index.ts')) {
    const source = parse(join(routers, file));
    for (const statement of source.statements) {
      if (!ts.isVariableStatement(statement)) continue;
      for (const declaration of statement.declarationList.declarations) {
        const namespace = ts.isIdentifier(declaration.name) ? mounted.get(declaration.name.text) : undefined;
        if (!namespace || !declaration.initializer) continue;
        visitObjects(declaration.initializer, (name, _value, property) => {
          const doc = ts.getJSDocCommentsAndTags(property).find(ts.isJSDoc);
          const text = typeof doc?.comment === 'string' ? doc.comment : undefined;
          if (text)
            comments.set(
              `${namespace}.${name}`,
              text
                .split(/\n\s*\n/)[0]!
                .replace(/\s+/g, ' ')
                .trim(),
            );
        });
      }
    }
  }
  return comments;
}

/** The properties of the object literal passed to `router({ … })` under `node`. */
function visitObjects(node: ts.Node, each: (name: string, value: ts.Expression, property: ts.PropertyAssignment) => void): void {
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'router') {
      const literal = n.arguments[0];
      if (literal && ts.isObjectLiteralExpression(literal))
        for (const p of literal.properties) if (ts.isPropertyAssignment(p) && ts.isIdentifier(p.name)) each(p.name.text, p.initializer, p);
      return;
    }
    ts.forEachChild(n, visit);
  };
  visit(node);
}

/** The named type declarations of a module, with their doc comments, in the order asked, without `export`. */
function declarationsOf(file: string, names: string[]): string {
  const source = parse(file);
  return names
    .map((name) => {
      const found = source.statements.find((s) => (ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s)) && s.name.text === name);
      if (!found) throw new Error(`${file} declares no type ${name}`);
      return found
        .getFullText(source)
        .replace(/^\s*\n/, '')
        .replace(/^(\s*(?:\/\*\*[\s\S]*?\*\/\s*)?)export /, '$1')
        .trimEnd();
    })
    .join('\n\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = generateClientReference();
  if (process.argv.includes('--check')) {
    if (readFileSync(referenceFile, 'utf8') !== text) {
      console.error('docs/client.md is out of date with the router: run `pnpm docs:client`');
      process.exit(1);
    }
  } else {
    writeFileSync(referenceFile, text);
    console.log(`wrote docs/client.md (${text.split('\n').length} lines)`);
  }
}

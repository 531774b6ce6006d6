#!/usr/bin/env node
// Writes prisma/postgresql/schema.prisma from prisma/schema.prisma (a provider
// swap) and runs `prisma generate` for both schemas.
//
//   node prisma/tools/generate.mjs           write the PostgreSQL variant, generate both clients
//   node prisma/tools/generate.mjs --check   exit 1 if the checked-in variant is stale (CI)
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const prismaDir = dirname(dirname(fileURLToPath(import.meta.url)));
const rootDir = dirname(prismaDir);
export const sourceSchemaPath = join(prismaDir, 'schema.prisma');
export const postgresSchemaPath = join(prismaDir, 'postgresql', 'schema.prisma');

const HEADER = `// GENERATED from ../schema.prisma by prisma/tools/generate.mjs (pnpm db:generate).
// Do not edit: change ../schema.prisma and regenerate.

`;

/** Replace `key = "..."` inside the named top-level block, failing loudly if absent. */
function setBlockValue(schema, blockHead, key, value) {
  const block = new RegExp(`(${blockHead}\\s*\\{[^}]*?\\b${key}\\s*=\\s*)"[^"]*"`);
  if (!block.test(schema)) throw new Error(`schema.prisma: no ${key} in "${blockHead} { }"`);
  return schema.replace(block, `$1"${value}"`);
}

/** The PostgreSQL variant of the source schema, as it should be checked in. */
export function postgresSchema(source = readFileSync(sourceSchemaPath, 'utf8')) {
  let schema = setBlockValue(source, 'datasource\\s+db', 'provider', 'postgresql');
  schema = setBlockValue(schema, 'generator\\s+client', 'output', '../../apps/server/src/db/generated/postgresql');
  return HEADER + schema;
}

/** Null when the checked-in variant is current, else a message saying why not. */
export function checkPostgresSchema() {
  const expected = postgresSchema();
  const rel = relative(rootDir, postgresSchemaPath);
  if (!existsSync(postgresSchemaPath)) return `${rel} is missing; run \`pnpm db:generate\``;
  if (readFileSync(postgresSchemaPath, 'utf8') !== expected)
    return `${rel} is out of date with prisma/schema.prisma; run \`pnpm db:generate\` and commit the result`;
  return null;
}

export function writePostgresSchema() {
  const expected = postgresSchema();
  mkdirSync(dirname(postgresSchemaPath), { recursive: true });
  const current = existsSync(postgresSchemaPath) ? readFileSync(postgresSchemaPath, 'utf8') : null;
  if (current !== expected) writeFileSync(postgresSchemaPath, expected);
}

/**
 * `prisma generate` only checks that the schema engine binary exists (it is
 * not downloadable here); point it at the wasm engine unless the caller set it.
 */
function schemaEngineBinary() {
  if (process.env.PRISMA_SCHEMA_ENGINE_BINARY) return process.env.PRISMA_SCHEMA_ENGINE_BINARY;
  const candidates = [
    join(rootDir, 'node_modules/prisma/build/schema_engine_bg.wasm'),
    join(rootDir, 'apps/server/node_modules/@prisma/schema-engine-wasm/schema_engine_bg.wasm'),
  ];
  return candidates.find((p) => existsSync(p)) ?? candidates[0];
}

function prismaGenerate(schemaPath) {
  const cli = join(rootDir, 'node_modules/prisma/build/index.js');
  const args = [cli, 'generate', '--schema', schemaPath];
  const env = {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: schemaEngineBinary(),
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
  };
  return new Promise((resolveRun, rejectRun) => {
    const child = spawn(process.execPath, args, { cwd: rootDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', rejectRun);
    child.on('close', (code) => {
      const rel = relative(rootDir, schemaPath);
      if (code === 0) {
        const done = /Generated Prisma Client.*? to (\S+)/.exec(output);
        resolveRun(`generated ${rel} -> ${done?.[1] ?? 'client'}`);
      } else rejectRun(new Error(`prisma generate --schema ${rel} failed (exit ${code}):\n${output}`));
    });
  });
}

export async function main(argv = process.argv.slice(2)) {
  if (argv.includes('--check')) {
    const problem = checkPostgresSchema();
    if (problem) {
      console.error(`schema drift: ${problem}`);
      return 1;
    }
    console.log('prisma/postgresql/schema.prisma is in sync with prisma/schema.prisma');
    return 0;
  }
  writePostgresSchema();
  const lines = await Promise.all([prismaGenerate(sourceSchemaPath), prismaGenerate(postgresSchemaPath)]);
  for (const line of lines) console.log(line);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => (process.exitCode = code),
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  );
}

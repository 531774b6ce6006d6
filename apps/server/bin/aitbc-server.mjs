#!/usr/bin/env node
// Runs the TypeScript entry point through tsx's loader: development and the
// tests. `pnpm start` runs the same code compiled (dist/aitbc-server.mjs, see
// scripts/bundle.mjs), without the loader resident.
import { register } from 'tsx/esm/api';
register();
const { serve } = await import('../src/main.ts');
await serve();

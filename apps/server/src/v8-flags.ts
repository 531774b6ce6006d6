/**
 * V8 settings for the server process, set before any WebAssembly is compiled
 * (main.ts imports this first).
 *
 * Prisma's query compiler and schema engine are WebAssembly. By default V8
 * compiles their hot functions a second time with its optimizing tier, on
 * background threads, and glibc keeps those threads' freed memory: an idle
 * server on SQLite held 226–237 MiB fifteen seconds after start, 175 MiB with
 * baseline (Liftoff) code only, its peak 254–264 → 177 MiB. The wasm is under
 * 1% of the server's CPU under load (a CPU profile of the neighbours bench:
 * 0.37 s of 56 s), so the optimizing tier buys nothing worth that memory.
 * `setFlagsFromString` ignores a flag a later V8 no longer has, where the
 * command line would refuse to start.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');

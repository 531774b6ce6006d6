/**
 * What a database error says about the database, not about the request:
 *
 *   - `unreachable`: the connection is gone or cannot be made (PostgreSQL
 *     restarting or failing over, a terminated backend, a network cut, a
 *     pool that waited too long for a connection);
 *   - `read-only`: the database refuses writes (a standby after a failover,
 *     `default_transaction_read_only`), SQLSTATE 25006.
 *
 * Either way the request did nothing and may be sent again: the edge
 * answers 503 with Retry-After, not 500. Errors arrive from node-postgres
 * (a SQLSTATE in `code`, or a socket error), from Prisma (a P1xxx code, or
 * the driver adapter's error under `meta.driverAdapterError`, or a
 * "Database error. Code: `57P01`" message), wrapped in tRPC's `cause`: all
 * of them are looked through.
 */
export type DatabaseFault = 'unreachable' | 'read-only';

/** The code of DatabaseUnavailable (below). */
const UNAVAILABLE = 'AITBC_DATABASE_UNAVAILABLE';

/**
 * SQLSTATEs: class 08 (connection exception), 57P01–57P03 (the server is
 * shutting down, crashed, or not accepting connections yet), 53300 (too
 * many connections). Node socket errors. Prisma: P1001 can't reach, P1002
 * timed out, P1008 socket timeout, P1017 server closed the connection,
 * P2024 no pool connection in time.
 */
const UNREACHABLE_CODES = new Set([
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '08007',
  '08P01',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'P1001',
  'P1002',
  'P1008',
  'P1017',
  'P2024',
  UNAVAILABLE,
]);
const READ_ONLY_CODE = '25006';

/** The driver adapter's kinds for a lost or refused connection (@prisma/adapter-pg). */
const UNREACHABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);

/** node-postgres and pg-pool say these in words only (no code). */
const UNREACHABLE_TEXT =
  /Connection terminated|terminating connection|the database system is (starting up|shutting down|in recovery mode|not yet accepting)|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|server closed the connection unexpectedly|Can't reach database server|Server has closed the connection|no connection to the server/i;
const READ_ONLY_TEXT = /in a read-only transaction/i;
/** Prisma's message for a driver error it has no code of its own for. */
const QUOTED_CODE = /Code: `([0-9A-Z]{5})`/;

/** Thrown without touching the database while it is known to be down (db/availability.ts). */
export class DatabaseUnavailable extends Error {
  override readonly name = 'DatabaseUnavailable';
  readonly code = UNAVAILABLE;

  constructor(readonly fault: DatabaseFault) {
    super(fault === 'read-only' ? 'the database is read-only' : 'the database is unreachable');
  }
}

function ofCode(code: unknown): DatabaseFault | null {
  if (typeof code !== 'string') return null;
  if (code === READ_ONLY_CODE) return 'read-only';
  return UNREACHABLE_CODES.has(code) ? 'unreachable' : null;
}

/** The fault an error means, looking through causes and wrappers; null for any other error. */
export function databaseFault(error: unknown, depth = 0): DatabaseFault | null {
  if (!error || typeof error !== 'object' || depth > 6) return null;
  const e = error as {
    code?: unknown;
    fault?: unknown;
    message?: unknown;
    kind?: unknown;
    originalCode?: unknown;
    cause?: unknown;
    meta?: { driverAdapterError?: unknown; code?: unknown };
    errors?: unknown;
  };
  if (error instanceof DatabaseUnavailable) return error.fault;
  const byCode = ofCode(e.code) ?? ofCode(e.originalCode) ?? ofCode(e.meta?.code);
  if (byCode) return byCode;
  if (typeof e.kind === 'string') {
    if (UNREACHABLE_KINDS.has(e.kind)) return 'unreachable';
    if (e.kind === 'postgres') return ofCode(e.code);
  }
  if (typeof e.message === 'string') {
    const quoted = QUOTED_CODE.exec(e.message);
    const byQuote = quoted ? ofCode(quoted[1]) : null;
    if (byQuote) return byQuote;
    if (READ_ONLY_TEXT.test(e.message)) return 'read-only';
    if (UNREACHABLE_TEXT.test(e.message)) return 'unreachable';
  }
  const nested = [e.cause, e.meta?.driverAdapterError, ...(Array.isArray(e.errors) ? e.errors : [])];
  for (const inner of nested) {
    const found = databaseFault(inner, depth + 1);
    if (found) return found;
  }
  return null;
}

/**
 * Database errors no listener took, counted by the last-resort guard
 * (main.ts) and shown in /metrics: each one is a path that lacks a listener.
 */
export const uncaughtFaults = { total: 0 };

// What the user reads when a command fails: one line, `aitbc: <message>`.
import { describeError } from '@aitbc/client';

/** A failure already worded for the user; main prints `aitbc: <message>` and exits with exitCode. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The command line itself is wrong (exit 2, like commander's own usage errors). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** API field → what the user typed it as. */
const FIELD_FLAGS: Record<string, string> = {
  agent_id: 'ID',
  key_id: 'KEY_ID',
  owner_id: '--owner',
  include_revoked: '--include-revoked',
  expires_in_seconds: '--expires',
  grace_seconds: '--grace',
  target_id: '--target',
};

function flagFor(path: string): string {
  const [field = path, ...rest] = path.split('.');
  const flag = FIELD_FLAGS[field] ?? (field === '(body)' ? 'input' : `--${field.replaceAll('_', '-')}`);
  return [flag, ...rest].join('.');
}

/**
 * Where to look when no server answers. Not "pnpm start": the packed CLI on a
 * GPU host has no server to start, and the usual cause there is a server
 * running elsewhere, or on another port, than the URL says.
 */
const WHERE_IS_IT = 'AITBC_URL or --url says where it is; a server prints its URL when it starts';
const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: `connection refused — is a server running at that address? (${WHERE_IS_IT})`,
  TIMEOUT: `no answer in time — is a server running there, and reachable? (${WHERE_IS_IT})`,
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'no such host (DNS lookup failed)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  UND_ERR_SOCKET: 'connection closed',
};

/** Turns whatever a server call threw into one line for the user. */
export function explainFailure(error: unknown, url: string): CliError {
  if (error instanceof CliError) return error;
  const info = describeError(error);
  if (info.httpStatus === null) {
    const reason = UNREACHABLE[info.code];
    if (reason) return new CliError(`cannot reach ${url}: ${reason}`);
    if (/^E[A-Z]+$|^UND_ERR/.test(info.code)) return new CliError(`cannot reach ${url}: ${info.code} ${oneLine(info.message)}`);
    if (info.code === 'NETWORK_ERROR') return new CliError(`cannot reach ${url}: ${oneLine(info.message)}`);
    return new CliError(`unexpected answer from ${url} (is it an aitbc server?): ${oneLine(info.message)}`);
  }
  if (info.issues?.length) {
    return new CliError('invalid input: ' + info.issues.map((i) => `${flagFor(i.path)}: ${oneLine(i.message)}`).join('; '));
  }
  return new CliError(oneLine(info.message) || `the server answered ${info.httpStatus} (${info.code})`);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

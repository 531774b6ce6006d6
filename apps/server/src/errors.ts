/**
 * What domain code (work/, networks/, swarms/, agents/) throws when a caller
 * asked for something that cannot be: it says what went wrong in the
 * domain's words. The edge (trpc.ts) maps each kind to an HTTP status and a
 * tRPC code; nothing below the routers knows about either.
 */
export type DomainErrorKind =
  /** No such thing, or not the caller's (the two are indistinguishable on purpose). */
  | 'not_found'
  /** It exists, but its state forbids this now (already left, lease lost, too few members). */
  | 'conflict'
  /** The request contradicts itself (fail_after below suspect_after). */
  | 'invalid'
  /** Well-formed, but nothing can carry it out (no agent has the capabilities). */
  | 'unprocessable';

export class DomainError extends Error {
  override readonly name = 'DomainError';

  constructor(
    readonly kind: DomainErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (message: string) => new DomainError('not_found', message);
export const conflict = (message: string) => new DomainError('conflict', message);
export const invalid = (message: string) => new DomainError('invalid', message);
export const unprocessable = (message: string) => new DomainError('unprocessable', message);

/**
 * Idempotent submits (Stripe's Idempotency-Key): execute, coordinate,
 * network create and key create take a key, per owner. The first request
 * under a key runs, and its answer is stored in the same transaction as
 * what it created; a repeat within 24 hours gets that answer (the same id,
 * the same status) instead of running again, and a different request under
 * the key is refused (422).
 *
 * A repeat that arrives while the first is still running waits for it: the
 * first holds the key's row from the start of its transaction (PostgreSQL:
 * the repeat's insert waits on the row; SQLite: one transaction at a time),
 * then answers from what it committed. A request that was refused (a 4xx, a
 * rollback) stored nothing, changed nothing, and runs afresh when repeated.
 *
 * key.create's answer carries the new key's secret, which this server never
 * stores: its repeat is refused (409) naming the key that was issued, to be
 * revoked if its secret was lost.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, IDEMPOTENCY_SECONDS, IdempotencyKey } from '@aitbc/core';
import type { Database, Tx } from './db/database.ts';
import { fromJson, raw, type Sql, sql, time } from './db/sql.ts';
import { conflict, invalid, unprocessable } from './errors.ts';

/** The submits that take a key, by procedure. */
export type IdempotentOperation = 'execution.execute' | 'swarm.coordinate' | 'network.create' | 'key.create';

export interface Submit {
  ownerId: string;
  operation: IdempotentOperation;
  /** The parsed input; its `idempotency_key` field is the key's (tRPC), else `header` (REST). */
  input: { idempotency_key?: string | undefined };
  header: string | undefined;
}

/** What a repeat of key.create may be told: everything but the secret. */
const SECRET_FIELDS = ['key'];

/** The key the caller sent, in the body or as the Idempotency-Key header (not both, unless equal). */
function keyOf({ input, header }: Submit): string | undefined {
  const asHeader = header === undefined ? undefined : IdempotencyKey.safeParse(header);
  if (asHeader && !asHeader.success) throw invalid(`Idempotency-Key header: ${asHeader.error.issues[0]?.message ?? 'invalid'}`);
  const fromBody = input.idempotency_key;
  if (fromBody !== undefined && asHeader !== undefined && fromBody !== asHeader.data)
    throw invalid('idempotency_key and the Idempotency-Key header differ; send one');
  return fromBody ?? asHeader?.data;
}

function requestHash(operation: string, input: object): string {
  const { idempotency_key: _, ...request } = input as Record<string, unknown>;
  return createHash('sha256')
    .update(`${operation}\n${canonicalJson(request)}`)
    .digest('hex');
}

interface Stored {
  operation: string;
  request_hash: string;
  response: unknown;
  created_at: unknown;
}

/**
 * Runs `run` in one transaction, once per idempotency key: without a key,
 * simply in a transaction, or (`oneStatement`: its writes are one statement)
 * in Database.autocommit, with no transaction around it.
 */
export async function submitOnce<T extends object>(
  db: Database,
  submit: Submit,
  run: (tx: Tx) => Promise<T>,
  { oneStatement = false } = {},
): Promise<T> {
  const key = keyOf(submit);
  if (key === undefined) return oneStatement ? db.autocommit(run) : db.transaction(run);
  const { ownerId, operation } = submit;
  const hash = requestHash(operation, submit.input);
  const outcome = await db.transaction(async (tx): Promise<{ answer: T } | { stored: Stored }> => {
    const now = new Date();
    if (!(await claimKey(tx.sql, ownerId, key, operation, hash, now))) {
      const stored = await tx.sql.one<Stored>(sql`
        SELECT "operation", "request_hash", "response", "created_at" FROM "idempotency_keys" WHERE "owner_id" = ${ownerId} AND "key" = ${key}`);
      return { stored: stored! };
    }
    const answer = await run(tx);
    const kept =
      operation === 'key.create' ? Object.fromEntries(Object.entries(answer).filter(([k]) => !SECRET_FIELDS.includes(k))) : answer;
    await tx.sql.run(sql`
      UPDATE "idempotency_keys" SET "response" = ${JSON.stringify(kept)} WHERE "owner_id" = ${ownerId} AND "key" = ${key}`);
    return { answer };
  });
  if ('answer' in outcome) return outcome.answer;
  const { stored } = outcome;
  const first = time(stored.created_at).toISOString();
  if (stored.request_hash !== hash || stored.operation !== operation)
    throw unprocessable(
      `Idempotency-Key ${key} was first used at ${first} for a different request (${stored.operation}); a new request needs a new key`,
    );
  const response = fromJson<T & { id?: string }>(stored.response);
  if (operation === 'key.create')
    throw conflict(
      `Idempotency-Key ${key} already issued API key ${response.id} at ${first}; its secret is shown only once: if it was lost, revoke that key and issue another`,
    );
  return response;
}

/**
 * Takes the key for this request: inserted, or an expired record of it
 * replaced. False when a live record holds it (committed: on PostgreSQL an
 * insert racing a transaction that holds the row waits for that transaction
 * to end).
 */
async function claimKey(db: Sql, ownerId: string, key: string, operation: string, hash: string, now: Date): Promise<boolean> {
  const expires = new Date(now.getTime() + IDEMPOTENCY_SECONDS * 1000);
  const row = await db.one(sql`
    INSERT INTO "idempotency_keys" ("owner_id", "key", "operation", "request_hash", "response", "created_at", "expires_at")
    VALUES (${ownerId}, ${key}, ${operation}, ${hash}, NULL, ${now}, ${expires})
    ON CONFLICT ("owner_id", "key") DO UPDATE SET "operation" = excluded."operation", "request_hash" = excluded."request_hash",
      "response" = NULL, "created_at" = excluded."created_at", "expires_at" = excluded."expires_at"
    WHERE "idempotency_keys"."expires_at" <= ${now}
    RETURNING "key"`);
  return row !== undefined;
}

/** Records kept past their 24 hours are deleted, this many per pass. */
const FORGET_BATCH = 1000;

/** A sweep pass: expired records go (at most once a minute; a repeat after 24 h runs afresh anyway). */
export function forgetExpiredSubmits(db: Database, everyMs = 60_000): (now: Date) => Promise<Record<string, number>> {
  let last = 0;
  return async (now): Promise<Record<string, number>> => {
    if (now.getTime() - last < everyMs) return {};
    last = now.getTime();
    const forgotten = await db.run((_, q) =>
      q.run(sql`
        DELETE FROM "idempotency_keys" WHERE ("owner_id", "key") IN (
          SELECT "owner_id", "key" FROM "idempotency_keys" WHERE "expires_at" <= ${now} LIMIT ${raw(String(FORGET_BATCH))})`),
    );
    return { idempotencyForgotten: forgotten };
  };
}

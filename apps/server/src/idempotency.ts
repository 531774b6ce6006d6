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
 * then answers from what it committed. An execute on PostgreSQL is one
 * statement with its key's record (submitKeyed): the first holds the key
 * while that statement runs. A request that was refused (a 4xx, a
 * rollback) stored nothing, changed nothing, and runs afresh when repeated.
 *
 * key.create's answer carries the new key's secret, which this server never
 * stores: its repeat is refused (409) naming the key that was issued, to be
 * revoked if its secret was lost.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, IDEMPOTENCY_SECONDS, IdempotencyKey } from '@aitbc/core';
import type { Database, Tx } from './db/database.ts';
import { fromJson, type Query, raw, type Sql, sql, time } from './db/sql.ts';
import { conflict, DomainError, invalid, unprocessable } from './errors.ts';

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
  expires_at: unknown;
}

/** The key's record, holding the answer: a statement a one-statement submit writes with its own rows (PostgreSQL). */
export type KeyRecord = (answer: object) => Query;

/**
 * Runs `run` in one transaction, once per idempotency key: without a key,
 * simply in a transaction, or (`oneStatement`: its writes are one statement)
 * in Database.autocommit, with no transaction around it. On PostgreSQL a
 * one-statement submit under a key stays one statement: `run` is handed the
 * key's record to write with its rows (submitKeyed).
 */
export async function submitOnce<T extends object>(
  db: Database,
  submit: Submit,
  run: (tx: Tx, record?: KeyRecord) => Promise<T>,
  { oneStatement = false } = {},
): Promise<T> {
  const key = keyOf(submit);
  if (key === undefined) return oneStatement ? db.autocommit((tx) => run(tx)) : db.transaction((tx) => run(tx));
  const { ownerId, operation } = submit;
  const hash = requestHash(operation, submit.input);
  if (oneStatement && db.provider === 'postgresql') return submitKeyed(db, { ownerId, operation, key, hash }, run);
  const outcome = await db.transaction(async (tx): Promise<{ answer: T } | { stored: Stored }> => {
    const now = new Date();
    if (!(await claimKey(tx.sql, ownerId, key, operation, hash, now))) return { stored: (await storedUnder(tx.sql, ownerId, key))! };
    const answer = await run(tx);
    const kept =
      operation === 'key.create' ? Object.fromEntries(Object.entries(answer).filter(([k]) => !SECRET_FIELDS.includes(k))) : answer;
    await tx.sql.run(sql`
      UPDATE "idempotency_keys" SET "response" = ${JSON.stringify(kept)} WHERE "owner_id" = ${ownerId} AND "key" = ${key}`);
    return { answer };
  });
  return 'answer' in outcome ? outcome.answer : repeated<T>(outcome.stored, key, operation, hash);
}

/** Attempts of a keyed one-statement submit: a record that expired is deleted and the submit runs again. */
const KEYED_ATTEMPTS = 3;

/**
 * A one-statement submit under a key (PostgreSQL): its one write carries the key's record with the answer, a plain
 * INSERT. The first request's statement commits both at once. A repeat's INSERT meets the key's row: while the first
 * statement runs it waits for it (the unique index), then fails with a unique violation, and nothing of the repeat
 * was written; it answers from the record. A repeat refused before its write (the network paused since, say) is
 * answered from the record too, if there is one: a repeat gets the first answer whatever changed since.
 */
async function submitKeyed<T extends object>(
  db: Database,
  { ownerId, operation, key, hash }: { ownerId: string; operation: string; key: string; hash: string },
  run: (tx: Tx, record?: KeyRecord) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const now = new Date();
    const expires = new Date(now.getTime() + IDEMPOTENCY_SECONDS * 1000);
    try {
      return await db.autocommit((tx) =>
        run(
          tx,
          (answer) => sql`
            INSERT INTO "idempotency_keys" ("owner_id", "key", "operation", "request_hash", "response", "created_at", "expires_at")
            VALUES (${ownerId}, ${key}, ${operation}, ${hash}, ${JSON.stringify(answer)}, ${now}, ${expires})`,
        ),
      );
    } catch (error) {
      const taken = keyTaken(error);
      if (!taken && !(error instanceof DomainError)) throw error;
      const stored = await db.run((_, q) => storedUnder(q, ownerId, key));
      if (stored && time(stored.expires_at) > now) return repeated<T>(stored, key, operation, hash);
      if (!taken || attempt >= KEYED_ATTEMPTS) throw error;
      // The record had expired: it goes, and the submit runs again.
      await db.run((_, q) =>
        q.run(sql`DELETE FROM "idempotency_keys" WHERE "owner_id" = ${ownerId} AND "key" = ${key} AND "expires_at" <= ${now}`),
      );
    }
  }
}

/** A unique violation on the key's record: another request holds the key. */
function keyTaken(error: unknown): boolean {
  const e = error as { code?: string; constraint?: string } | null;
  return e?.code === '23505' && e.constraint === 'idempotency_keys_pkey';
}

async function storedUnder(db: Sql, ownerId: string, key: string): Promise<Stored | undefined> {
  return db.one<Stored>(sql`
    SELECT "operation", "request_hash", "response", "created_at", "expires_at" FROM "idempotency_keys"
    WHERE "owner_id" = ${ownerId} AND "key" = ${key}`);
}

/** The answer to a repeat: the first request's, or 422 for a different request under the key. */
function repeated<T>(stored: Stored, key: string, operation: string, hash: string): T {
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

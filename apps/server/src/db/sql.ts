/**
 * Raw SQL on the server's own connections, for the statements that run per
 * subtask (claims, results, lease extension). Prisma costs ~0.1–0.25 ms of
 * CPU around every statement and ~0.13 ms around every interactive
 * transaction; better-sqlite3 runs a prepared statement in microseconds, and
 * node-postgres one round trip in ~0.1 ms. Everything else stays on Prisma.
 *
 * A query is written once with the `sql` tag and rendered per dialect:
 * `?` placeholders for SQLite, `$n` for PostgreSQL. Values are encoded the
 * way Prisma's driver adapters store them, so rows written here and rows
 * written by Prisma are indistinguishable:
 *   - a Date: SQLite TEXT `2026-12-01T13:00:00.000+00:00`, PostgreSQL
 *     `timestamp(3)` in UTC;
 *   - a boolean: SQLite 0/1;
 *   - `json(value)`: its JSON text (PostgreSQL casts it to jsonb).
 * Rows come back with timestamps and JSON as text on both (see `time`,
 * `fromJson`), so one decoder serves both dialects.
 */
import type BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';

export type Dialect = 'sqlite' | 'postgresql';
export type Row = Record<string, unknown>;

/** Verbatim SQL text (a column list, a dialect's own function): never a user's value. */
class Raw {
  constructor(readonly text: string) {}
}

/** A JSON value, stored as JSON text (jsonb on PostgreSQL). */
class Json {
  constructor(readonly value: unknown) {}
}

/** `x ${inList(values)}`: `IN (?, ?, …)` on SQLite, `= ANY($n)` on PostgreSQL. */
class InList {
  constructor(readonly values: readonly unknown[]) {}
}

/** A statement (or a fragment of one) and its values, not yet rendered for a dialect. */
export class Query {
  constructor(
    readonly strings: readonly string[],
    readonly values: readonly unknown[],
  ) {}
}

export function sql(strings: TemplateStringsArray, ...values: unknown[]): Query {
  return new Query(strings, values);
}

export const raw = (text: string) => new Raw(text);
export const json = (value: unknown) => new Json(value);
export const inList = (values: readonly unknown[]) => new InList(values);

/** Fragments joined by a separator, e.g. the rows of a multi-row VALUES. */
export function join(parts: readonly Query[], separator = ', '): Query {
  const strings: string[] = [''];
  const values: unknown[] = [];
  parts.forEach((part, i) => {
    if (i > 0) strings[strings.length - 1] += separator;
    values.push(part);
    strings.push('');
  });
  return new Query(strings, values);
}

/** A SQL expression per dialect (for what the two spell differently). */
export function dialectal(forSqlite: Query | string, forPostgres: Query | string): DialectSwitch {
  return new DialectSwitch(forSqlite, forPostgres);
}
class DialectSwitch {
  constructor(
    readonly sqlite: Query | string,
    readonly postgresql: Query | string,
  ) {}
}

/** Prisma's formats (see the file comment). */
function encode(value: unknown, dialect: Dialect): unknown {
  if (value instanceof Date) {
    const iso = value.toISOString();
    return dialect === 'sqlite' ? iso.replace('Z', '+00:00') : iso.replace('T', ' ').replace('Z', '');
  }
  if (typeof value === 'boolean') return dialect === 'sqlite' ? (value ? 1 : 0) : value;
  if (value instanceof Json) return JSON.stringify(value.value === undefined ? null : value.value);
  return value === undefined ? null : value;
}

/** A query rendered for a dialect: its text and its parameters. */
export function render(query: Query, dialect: Dialect): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const placeholder = () => (dialect === 'sqlite' ? '?' : `$${params.length}`);
  const walk = (q: Query): string => {
    let text = q.strings[0]!;
    q.values.forEach((value, i) => {
      if (value instanceof Query) text += walk(value);
      else if (value instanceof Raw) text += value.text;
      else if (value instanceof DialectSwitch) {
        const chosen = value[dialect];
        text += typeof chosen === 'string' ? chosen : walk(chosen);
      } else if (value instanceof InList) {
        if (dialect === 'sqlite') {
          for (const v of value.values) params.push(encode(v, dialect));
          text += `IN (${value.values.map(() => '?').join(', ')})`;
        } else {
          params.push(value.values.map((v) => encode(v, dialect)));
          text += `= ANY(${placeholder()})`;
        }
      } else {
        params.push(encode(value, dialect));
        text += placeholder();
        if (value instanceof Json && dialect === 'postgresql') text += '::jsonb';
      }
      text += q.strings[i + 1]!;
    });
    return text;
  };
  return { text: walk(query), params };
}

/** Statements on one connection (inside a transaction, or autocommitted outside one). */
export interface Sql {
  readonly dialect: Dialect;
  /** Every row the statement returns. */
  all<T = Row>(query: Query): Promise<T[]>;
  /** The first row, if any. */
  one<T = Row>(query: Query): Promise<T | undefined>;
  /** Runs a statement; resolves to the number of rows it changed. */
  run(query: Query): Promise<number>;
  /** Statements run so far (the benchmarks count them per operation). */
  readonly statements: number;
}

/** A timestamp column as either dialect returns it. */
export function time(value: unknown): Date;
export function time(value: unknown): Date | null;
export function time(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value;
  const text = String(value);
  // PostgreSQL's timestamp without time zone is UTC by construction here.
  return new Date(text.includes('T') ? text : `${text.replace(' ', 'T')}Z`);
}

/** A JSON column (text on both dialects). */
export function fromJson<T = unknown>(value: unknown): T {
  if (value === null || value === undefined) return null as T;
  return JSON.parse(String(value)) as T;
}

/** A boolean column (SQLite stores 0 and 1). */
export const flag = (value: unknown): boolean => value === true || value === 1 || value === 1n;

/** Statements counted across every Sql of the process (benchmarks read it through /metrics). */
export const statementCounter = { total: 0 };

/** better-sqlite3: statements prepared once per text and kept; results as plain numbers. */
export class SqliteSql implements Sql {
  readonly dialect = 'sqlite' as const;
  private readonly prepared = new Map<string, BetterSqlite3.Statement>();
  statements = 0;

  constructor(readonly connection: BetterSqlite3.Database) {}

  statement(text: string): BetterSqlite3.Statement {
    let statement = this.prepared.get(text);
    if (!statement) {
      // IN lists of every length make distinct texts: keep the cache bounded.
      if (this.prepared.size >= 2000) this.prepared.clear();
      statement = this.connection.prepare(text);
      if (statement.reader) statement.safeIntegers(false);
      this.prepared.set(text, statement);
    }
    return statement;
  }

  private exec<T>(query: Query, how: 'all' | 'get' | 'run'): T {
    const { text, params } = render(query, 'sqlite');
    const statement = this.statement(text);
    this.statements++;
    statementCounter.total++;
    if (how === 'run') {
      return (statement.reader ? statement.all(...params).length : statement.run(...params).changes) as T;
    }
    return (how === 'all' ? statement.all(...params) : statement.get(...params)) as T;
  }

  /** The synchronous forms: a unit of work that is all SQL on SQLite never yields. */
  allSync<T = Row>(query: Query): T[] {
    return this.exec<T[]>(query, 'all');
  }
  oneSync<T = Row>(query: Query): T | undefined {
    return this.exec<T | undefined>(query, 'get');
  }
  runSync(query: Query): number {
    return this.exec<number>(query, 'run');
  }

  async all<T = Row>(query: Query): Promise<T[]> {
    return this.allSync<T>(query);
  }
  async one<T = Row>(query: Query): Promise<T | undefined> {
    return this.oneSync<T>(query);
  }
  async run(query: Query): Promise<number> {
    return this.runSync(query);
  }
}

/**
 * Parsers for this layer's queries only (Prisma passes its own): timestamps
 * and JSON stay text, as on SQLite; bigint and numeric become numbers.
 */
const asText = (value: string) => value;
const PARSERS: Record<number, (value: string) => unknown> = {
  114: asText, // json
  3802: asText, // jsonb
  1114: asText, // timestamp
  1184: asText, // timestamptz
  20: Number, // int8 (count(*), sum of int4)
  1700: Number, // numeric (sum of int8)
};

/** Statement names by text: PostgreSQL parses and plans a named statement once per connection. */
const statementNames = new Map<string, string>();
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    if (statementNames.size >= 2000) statementNames.clear();
    name = `aitbc_${statementNames.size}_${text.length}`;
    statementNames.set(text, name);
  }
  return name;
}

/** What statements are sent through: the pool (autocommit), or a transaction's connection (db/client.ts, SerialClient). */
export interface PgQueryable {
  query(config: pg.QueryConfig): Promise<pg.QueryResult>;
}

/** node-postgres, on one client (a transaction's) or the pool (autocommit). */
export class PostgresSql implements Sql {
  readonly dialect = 'postgresql' as const;
  statements = 0;

  constructor(readonly client: PgQueryable) {}

  private async exec(query: Query): Promise<pg.QueryResult> {
    const { text, params } = render(query, 'postgresql');
    this.statements++;
    statementCounter.total++;
    return this.client.query({
      // Texts are fixed on PostgreSQL (a list is one array parameter), so each is parsed once per connection.
      name: statementName(text),
      text,
      values: params,
      types: { getTypeParser: ((oid: number, format?: string) => PARSERS[oid] ?? pg.types.getTypeParser(oid, format as 'text')) as never },
    });
  }

  async all<T = Row>(query: Query): Promise<T[]> {
    return (await this.exec(query)).rows as T[];
  }
  async one<T = Row>(query: Query): Promise<T | undefined> {
    return (await this.exec(query)).rows[0] as T | undefined;
  }
  async run(query: Query): Promise<number> {
    return (await this.exec(query)).rowCount ?? 0;
  }
}

/** `at` plus `seconds` (an integer SQL expression), in the timestamp columns' format. */
export function plusSeconds(at: Date, seconds: Query): Query {
  return sql`${dialectal(
    sql`strftime('%Y-%m-%dT%H:%M:%f+00:00', ${at}, '+' || (${seconds}) || ' seconds')`,
    sql`(${at}::timestamp + make_interval(secs => (${seconds})))`,
  )}`;
}

/** A random UUID (v4) made by the database, one per row. */
export const newUuid = dialectal(
  "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || " +
    "substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))",
  'gen_random_uuid()::text',
);

/**
 * The shard a sharded counter row is written to: on PostgreSQL the
 * connection's own (backend pid mod 1024), so concurrent transactions never
 * wait on one another's counter row; SQLite has one writer, so one shard.
 */
export const shard = dialectal('0', '(pg_backend_pid() % 1024)');

/** The earlier of two timestamps (or the smaller of two numbers): SQLite's two-argument min(), PostgreSQL's LEAST(). */
export function earliest(a: Query, b: Query): Query {
  return sql`${dialectal(sql`min(${a}, ${b})`, sql`LEAST(${a}, ${b})`)}`;
}

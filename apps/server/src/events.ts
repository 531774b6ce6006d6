import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { OutageLog } from './db/availability.ts';
import { guardConnections, POOL_OPTIONS } from './db/client.ts';
import type { DatabaseTarget } from './db/target.ts';

/**
 * What happened, for whoever listens: live views (subscriptions) and the
 * server's own caches. Events are published after their transaction commits.
 */
export type ServerEvent =
  | { kind: 'key.revoked'; key_id: string }
  /** A key's expiry changed (rotation): caches forget it; live streams carry on. */
  | { kind: 'key.changed'; key_id: string }
  | { kind: 'member.left'; member_id: string }
  /** A swarm's failure-detection thresholds changed. */
  | { kind: 'swarm.changed'; swarm_id: string }
  /**
   * Work moved in a network execution or a swarm task: a live view should
   * refresh it. Always says whose: a live stream passes an owner only their
   * own (the sweeper's moves too: expired leases, failed members, deadlines).
   */
  | {
      kind: 'work.changed';
      owner_id: string;
      network_id?: string | null;
      execution_id?: string | null;
      swarm_id?: string | null;
      task_id?: string | null;
    }
  /** Subtasks were assigned to these agents or members: their waiting claims wake (work/waiters.ts). */
  | { kind: 'work.assigned'; assignees: string[] }
  /** A parent's work is urgent: whichever of its assignees claims next takes it first (work/urgent.ts). */
  | { kind: 'work.urgent'; owner_id: string; parent_kind: 'execution' | 'coordination'; parent_id: string; subtasks: number }
  /**
   * This instance listens again after its LISTEN connection was lost: what
   * other instances sent meanwhile was missed. Never sent to others. Whoever
   * keeps what events invalidate forgets all of it, and every waiting long
   * poll wakes once to look for itself.
   */
  | { kind: 'bus.reconnected' };

export interface EventBus {
  publish(event: ServerEvent): void;
  /** Returns the unsubscribe function. */
  subscribe(listener: (event: ServerEvent) => void): () => void;
  /** Times the LISTEN connection was lost and made again (for /metrics; 0 for one process). */
  readonly reconnects: number;
  close(): Promise<void>;
}

/** One process: events go straight to its listeners. */
class LocalEventBus implements EventBus {
  protected readonly emitter = new EventEmitter().setMaxListeners(0);
  reconnects = 0;

  publish(event: ServerEvent): void {
    this.deliver(event);
  }

  protected deliver(event: ServerEvent): void {
    this.emitter.emit('event', event);
  }

  subscribe(listener: (event: ServerEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

const CHANNEL = 'aitbc_events';
/** NOTIFY payloads are limited to 8000 bytes. */
const MAX_PAYLOAD = 7900;
/** The LISTEN connection's application_name: operators (and the fault tests) find it in pg_stat_activity by it. */
export const LISTENER_NAME = 'aitbc-events';
/** Backoff between attempts to listen again, and to send a NOTIFY again. */
const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 2000;
/** Payloads kept for sending again while NOTIFY fails; past this the oldest go (the others' sweeps and polls still move on). */
const MAX_UNSENT = 1000;

/** `ms` ± 25%: instances that lost the database together do not come back in step. */
const jittered = (ms: number) => ms * (0.75 + Math.random() * 0.5);

/**
 * Several server instances on one PostgreSQL: every event is delivered to
 * this instance's listeners at once, and sent to the others by NOTIFY; every
 * instance LISTENs, and skips its own.
 *
 * The events of one turn of the event loop travel together: as few NOTIFYs
 * as fit them (each payload a list of events), identical ones once, and
 * every assignee named once. PostgreSQL serializes the commits of all
 * NOTIFYs on one lock; with a NOTIFY per claim and per result, two busy
 * instances spent most of their time waiting on it.
 *
 * Faults. The LISTEN connection that ends (a restart, a failover, a
 * terminated backend, a pooler) is made again with jittered backoff and
 * LISTENs again; then `bus.reconnected` is delivered here (caches forget,
 * waiters wake) with a `work.changed` for everyone (live views re-read),
 * since what was sent meanwhile is lost. A NOTIFY that fails is sent again
 * with backoff once the database answers: an event another instance misses
 * could leave its caches stale (a member that left, a revoked key).
 */
class PostgresEventBus extends LocalEventBus {
  private readonly origin = randomUUID();
  private outbox: ServerEvent[] = [];
  private listener: pg.Client | null = null;
  private relistening = false;
  private readonly unsent: string[] = [];
  private resending: NodeJS.Timeout | null = null;
  private resendWait = FIRST_RETRY_MS;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  /** Where "listening again" goes (server.ts points it at the server's logger). */
  log: Pick<OutageLog, 'warn'> = { warn: (_fields, message) => console.error(`aitbc-server: ${message}`) };

  private constructor(
    private readonly url: string,
    private readonly publisher: pg.Pool,
    private readonly onError: (error: Error) => void,
  ) {
    super();
  }

  static async connect(url: string, onError: (error: Error) => void): Promise<PostgresEventBus> {
    const publisher = new pg.Pool({ connectionString: url, max: 2, application_name: 'aitbc-events-publish', ...POOL_OPTIONS });
    // A publishing connection that ends is dropped by the pool and replaced when next needed; a failed send is retried.
    guardConnections(publisher, () => undefined);
    const bus = new PostgresEventBus(url, publisher, onError);
    try {
      await bus.listen();
    } catch (error) {
      await publisher.end().catch(() => undefined);
      throw error;
    }
    return bus;
  }

  /** Connects and LISTENs; the connection, once listening, listens again when it is lost. */
  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      application_name: LISTENER_NAME,
      connectionTimeoutMillis: POOL_OPTIONS.connectionTimeoutMillis,
      keepAlive: true,
      keepAliveInitialDelayMillis: POOL_OPTIONS.keepAliveInitialDelayMillis,
    });
    let listening = false;
    // Its whole life, connecting included: an error or an end nobody hears would end the process.
    const lost = (error?: Error) => {
      if (!listening) return; // while connecting, listen()'s caller sees the failure and tries again
      listening = false;
      if (this.listener === client) this.listener = null;
      void client.end().catch(() => undefined);
      if (!this.closed) this.relisten(error?.message ?? 'the connection ended');
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (message) => this.heard(message));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      void client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      void client.end().catch(() => undefined);
      return;
    }
    listening = true;
    this.listener = client;
  }

  private heard(message: pg.Notification): void {
    if (message.channel !== CHANNEL || !message.payload) return;
    try {
      const { origin, events } = JSON.parse(message.payload) as { origin: string; events: ServerEvent[] };
      if (origin !== this.origin) for (const event of events) this.deliver(event);
    } catch (error) {
      this.onError(error as Error);
    }
  }

  /** LISTEN again, with jittered backoff, until it works or the bus closes; then everyone starts afresh. */
  private relisten(reason: string): void {
    if (this.relistening) return;
    this.relistening = true;
    const lostAt = performance.now();
    void (async () => {
      let wait = FIRST_RETRY_MS;
      let attempts = 0;
      for (;;) {
        await this.sleep(jittered(wait));
        if (this.closed) return;
        attempts++;
        try {
          await this.listen();
          break;
        } catch {
          wait = Math.min(MAX_RETRY_MS, wait * 2);
        }
      }
      this.relistening = false;
      if (this.closed) return;
      this.reconnects++;
      const seconds = Math.round((performance.now() - lostAt) / 100) / 10;
      this.log.warn(
        { reason, down_s: seconds, attempts },
        `event bus: listening again after ${seconds} s (${reason}); events sent meanwhile were missed, so caches start afresh and waiting requests look again`,
      );
      // Caches start afresh, waiters look again, and live streams re-read everything (routers/live.ts).
      this.deliver({ kind: 'bus.reconnected' });
      // What failed to go out while the connection was down can go now.
      if (this.unsent.length > 0) this.resendSoon(true);
    })();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  override publish(event: ServerEvent): void {
    this.deliver(event);
    // Local only: the others keep their own connection's state.
    if (event.kind === 'bus.reconnected') return;
    if (this.outbox.push(event) === 1) setImmediate(() => this.send());
  }

  private send(): void {
    const events = this.outbox;
    this.outbox = [];
    const assignees = new Set<string>();
    const others = new Map<string, ServerEvent>();
    for (const e of events) {
      if (e.kind === 'work.assigned') for (const id of e.assignees) assignees.add(id);
      else others.set(JSON.stringify(e), e);
    }
    const pieces: ServerEvent[] = [...others.values()];
    const ids = [...assignees];
    // Ids are ~40 characters: 150 of them fit a payload with room to spare.
    for (let i = 0; i < ids.length; i += 150) pieces.push({ kind: 'work.assigned', assignees: ids.slice(i, i + 150) });
    let payload: ServerEvent[] = [];
    let size = 0;
    const flush = () => {
      if (payload.length === 0) return;
      const text = JSON.stringify({ origin: this.origin, events: payload });
      if (text.length <= MAX_PAYLOAD) this.notify(text);
      payload = [];
      size = 0;
    };
    for (const piece of pieces) {
      const length = JSON.stringify(piece).length + 1;
      if (size + length > MAX_PAYLOAD - 100) flush();
      payload.push(piece);
      size += length;
    }
    flush();
  }

  private notify(text: string): void {
    if (this.closed) return;
    // Behind payloads still waiting to go, so they keep their order.
    if (this.unsent.length > 0) return void this.keep(text);
    this.publisher.query('SELECT pg_notify($1, $2)', [CHANNEL, text]).catch(() => this.keep(text));
  }

  private keep(text: string): void {
    if (this.closed) return;
    if (this.unsent.push(text) > MAX_UNSENT) this.unsent.shift();
    this.resendSoon(false);
  }

  /** Sends the kept payloads in order, with backoff while they fail. */
  private resendSoon(now: boolean): void {
    if (this.resending || this.closed) return;
    this.resending = setTimeout(
      async () => {
        while (this.unsent.length > 0 && !this.closed) {
          try {
            await this.publisher.query('SELECT pg_notify($1, $2)', [CHANNEL, this.unsent[0]]);
            this.unsent.shift();
            this.resendWait = FIRST_RETRY_MS;
          } catch {
            this.resendWait = Math.min(MAX_RETRY_MS, this.resendWait * 2);
            this.resending = null;
            return this.resendSoon(false);
          }
        }
        this.resending = null;
      },
      now ? 0 : jittered(this.resendWait),
    );
  }

  override async close(): Promise<void> {
    if (this.outbox.length > 0) this.send();
    this.closed = true;
    if (this.resending) clearTimeout(this.resending);
    for (const timer of this.timers) clearTimeout(timer);
    await super.close();
    await this.listener?.end().catch(() => undefined);
    await this.publisher.end().catch(() => undefined);
  }
}

export async function connectEvents(
  target: DatabaseTarget,
  onError: (error: Error) => void,
  log?: Pick<OutageLog, 'warn'>,
): Promise<EventBus> {
  if (target.provider !== 'postgresql') return new LocalEventBus();
  const bus = await PostgresEventBus.connect(target.url, onError);
  if (log) bus.log = log;
  return bus;
}

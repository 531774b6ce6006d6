import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
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
  | { kind: 'work.assigned'; assignees: string[] };

export interface EventBus {
  publish(event: ServerEvent): void;
  /** Returns the unsubscribe function. */
  subscribe(listener: (event: ServerEvent) => void): () => void;
  close(): Promise<void>;
}

/** One process: events go straight to its listeners. */
class LocalEventBus implements EventBus {
  protected readonly emitter = new EventEmitter().setMaxListeners(0);

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
 */
class PostgresEventBus extends LocalEventBus {
  private readonly origin = randomUUID();
  private outbox: ServerEvent[] = [];

  private constructor(
    private readonly listener: pg.Client,
    private readonly publisher: pg.Pool,
  ) {
    super();
  }

  static async connect(url: string, onError: (error: Error) => void): Promise<PostgresEventBus> {
    const listener = new pg.Client({ connectionString: url });
    await listener.connect();
    await listener.query(`LISTEN ${CHANNEL}`);
    const publisher = new pg.Pool({ connectionString: url, max: 2 });
    // An idle publishing connection that ends is replaced when next needed (see db/client.ts).
    publisher.on('error', onError);
    const bus = new PostgresEventBus(listener, publisher);
    listener.on('notification', (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      try {
        const { origin, events } = JSON.parse(message.payload) as { origin: string; events: ServerEvent[] };
        if (origin !== bus.origin) for (const event of events) bus.deliver(event);
      } catch (error) {
        onError(error as Error);
      }
    });
    listener.on('error', onError);
    return bus;
  }

  override publish(event: ServerEvent): void {
    this.deliver(event);
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
      // Unreachable database: the other instances miss it (their sweeps and polls still move on); this one heard it.
      if (text.length <= MAX_PAYLOAD) this.publisher.query('SELECT pg_notify($1, $2)', [CHANNEL, text]).catch(() => undefined);
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

  override async close(): Promise<void> {
    if (this.outbox.length > 0) this.send();
    await super.close();
    await this.listener.end().catch(() => undefined);
    await this.publisher.end().catch(() => undefined);
  }
}

export async function connectEvents(target: DatabaseTarget, onError: (error: Error) => void): Promise<EventBus> {
  return target.provider === 'postgresql' ? PostgresEventBus.connect(target.url, onError) : new LocalEventBus();
}

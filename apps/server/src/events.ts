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
  | { kind: 'member.left'; member_id: string }
  /** A swarm's failure-detection thresholds changed. */
  | { kind: 'swarm.changed'; swarm_id: string }
  /**
   * Work moved in a network execution or a swarm task: a live view should
   * refresh it. `owner_id` null: the sweeper moved someone's work (expired
   * leases, failed members, deadlines), so every live view refreshes.
   */
  | {
      kind: 'work.changed';
      owner_id: string | null;
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
/** Assignees per work.assigned NOTIFY (ids are ~40 characters): a bigger assignment is sent in pieces. */
const ASSIGNEES_PER_NOTIFY = 150;

/**
 * Several server instances on one PostgreSQL: every event is delivered to
 * this instance's listeners at once and sent to the others as a NOTIFY;
 * every instance LISTENs, and skips its own, so a client connected to any
 * instance hears of work done through any other.
 */
class PostgresEventBus extends LocalEventBus {
  private readonly origin = randomUUID();

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
    const bus = new PostgresEventBus(listener, new pg.Pool({ connectionString: url, max: 2 }));
    listener.on('notification', (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      try {
        const { origin, event } = JSON.parse(message.payload) as { origin: string; event: ServerEvent };
        if (origin !== bus.origin) bus.deliver(event);
      } catch (error) {
        onError(error as Error);
      }
    });
    listener.on('error', onError);
    return bus;
  }

  override publish(event: ServerEvent): void {
    this.deliver(event);
    if (event.kind === 'work.assigned' && event.assignees.length > ASSIGNEES_PER_NOTIFY) {
      for (let i = 0; i < event.assignees.length; i += ASSIGNEES_PER_NOTIFY) {
        this.notify({ kind: 'work.assigned', assignees: event.assignees.slice(i, i + ASSIGNEES_PER_NOTIFY) });
      }
      return;
    }
    this.notify(event);
  }

  private notify(event: ServerEvent): void {
    const payload = JSON.stringify({ origin: this.origin, event });
    if (payload.length > MAX_PAYLOAD) return;
    // Unreachable database: the other instances miss it (their sweeps and polls still move on); this one heard it.
    this.publisher.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]).catch(() => undefined);
  }

  override async close(): Promise<void> {
    await super.close();
    await this.listener.end().catch(() => undefined);
    await this.publisher.end().catch(() => undefined);
  }
}

export async function connectEvents(target: DatabaseTarget, onError: (error: Error) => void): Promise<EventBus> {
  return target.provider === 'postgresql' ? PostgresEventBus.connect(target.url, onError) : new LocalEventBus();
}

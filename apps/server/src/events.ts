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
    };

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
/** NOTIFY payloads are limited to 8000 bytes; events are far smaller. */
const MAX_PAYLOAD = 7900;

/**
 * Several server instances on one PostgreSQL: every event is a NOTIFY, and
 * every instance (the publisher too) LISTENs, so a client connected to any
 * instance hears of work done through any other.
 */
class PostgresEventBus extends LocalEventBus {
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
        bus.deliver(JSON.parse(message.payload) as ServerEvent);
      } catch (error) {
        onError(error as Error);
      }
    });
    listener.on('error', onError);
    return bus;
  }

  override publish(event: ServerEvent): void {
    const payload = JSON.stringify(event);
    if (payload.length > MAX_PAYLOAD) return;
    this.publisher.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]).catch(() => {
      // The database is unreachable: this instance's own listeners still hear it.
      this.deliver(event);
    });
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

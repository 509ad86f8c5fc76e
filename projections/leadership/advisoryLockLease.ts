/**
 * A lease among the instances sharing one PostgreSQL database, held as a session advisory lock
 * on a connection of its own. PostgreSQL drops the lock when that session ends, so a holder that
 * dies (even by SIGKILL) frees it at once and the next attempt of another instance takes it.
 */
import { createHash } from 'node:crypto';
import type { Client } from 'pg';

export interface AdvisoryLockLeaseOptions {
  connectionString: string;
  /** Instances using the same name on the same database compete for one lease. */
  name: string;
  /** How often a waiting instance tries again, and a holder checks its connection. */
  retryIntervalMs?: number;
  /** Starts the work the lease guards; if it throws, the lease is released. */
  onAcquired(): Promise<void>;
  /** Stops that work: the lease is gone, or about to be released. */
  onLost(): Promise<void>;
  logger?: Pick<Console, 'error'>;
}

const DEFAULT_RETRY_INTERVAL_MS = 1000;

/** Advisory locks are keyed by one bigint per database; a 64-bit digest keeps names apart. */
export const advisoryLockKey = (name: string): string =>
  createHash('sha256').update(name).digest().readBigInt64BE(0).toString();

export class AdvisoryLockLease {
  private readonly key: string;
  private client: Client | undefined;
  private held = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Why the last attempt to reach the database failed; cleared by the next that succeeds. */
  lastError: unknown;

  constructor(private readonly options: AdvisoryLockLeaseOptions) {
    this.key = advisoryLockKey(options.name);
  }

  get isHeld(): boolean {
    return this.held;
  }

  /** Makes a first attempt, so the caller knows its role, then keeps trying in the background. */
  async start(): Promise<void> {
    await this.serialised(() => this.attempt());
    this.scheduleNextAttempt();
  }

  /** Stops the guarded work, then releases the lease by closing its session. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.serialised(() => this.release());
  }

  private scheduleNextAttempt(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.serialised(() => this.attempt()).finally(() => this.scheduleNextAttempt());
    }, this.options.retryIntervalMs ?? DEFAULT_RETRY_INTERVAL_MS);
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    try {
      this.client ??= await this.connect();
      if (this.held) {
        // The lock lives as long as the session: a session that still answers still holds it.
        await this.client.query('SELECT 1');
      } else {
        const { rows } = await this.client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [
          this.key,
        ]);
        if (rows[0]?.locked) {
          this.held = true;
          await this.options.onAcquired();
        }
      }
      this.lastError = undefined;
    } catch (error) {
      this.report(error);
      await this.release();
    }
  }

  private async connect(): Promise<Client> {
    // Imported here: only PostgreSQL read models take a lease, and a SQLite start skips loading pg.
    const { Client } = await import('pg');
    const client = new Client({
      connectionString: this.options.connectionString,
      keepAlive: true,
      connectionTimeoutMillis: 5000,
      // A check that hangs (a network partition) must end in a step-down, not a stall.
      query_timeout: 5000,
      // Shows in pg_stat_activity which session holds or waits for which lease.
      application_name: `lease ${this.options.name}`.slice(0, 63),
    });
    // A session that breaks while the lease is held means another instance may already lead:
    // step down now rather than at the next check.
    const broken = (error?: unknown) => {
      if (this.client !== client) return;
      if (error !== undefined) this.report(error);
      void this.serialised(() => (this.client === client ? this.release() : Promise.resolve()));
    };
    client.on('error', broken);
    client.on('end', () => broken());
    try {
      await client.connect();
    } catch (error) {
      client.removeAllListeners();
      throw error;
    }
    // A holder cut off by the network cannot close its session; the server ends it (and frees
    // the lock) once it has not heard from it for a while. PostgreSQL 14 and later.
    const silenceMs = 10 * (this.options.retryIntervalMs ?? DEFAULT_RETRY_INTERVAL_MS);
    await client.query(`SET idle_session_timeout = ${Math.max(silenceMs, 10_000)}`).catch(() => undefined);
    return client;
  }

  private async release(): Promise<void> {
    const client = this.client;
    if (this.held) {
      this.held = false;
      try {
        await this.options.onLost();
      } catch (error) {
        this.report(error);
      }
    }
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private report(error: unknown): void {
    const repeated = this.lastError !== undefined;
    this.lastError = error;
    if (!repeated) {
      this.options.logger?.error(`Lease ${this.options.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * Wakes live subscriptions when events are appended: at once for appends made by this
 * process, and through LISTEN/NOTIFY, within a few milliseconds, for appends made by others.
 * Polling stays underneath as the safety net: a notification is a hint, and one lost (the
 * listening connection drops, the signal is throttled away) only delays a wake-up until the
 * next poll.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

export interface AppendSignal {
  /** To be called after each append this process committed. */
  appended(): void;
  /** Calls `listener` after appends, ours or other processes'; returns the unsubscribe. */
  onAppended(listener: () => void): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'crm_events_appended';
/**
 * A burst of appends sends one notification: each one is a small transaction of its own, and
 * NOTIFY serialises the commits of notifying transactions database-wide, which is also why it
 * is never sent from inside an append.
 */
const NOTIFY_COALESCE_MS = 10;

export const createAppendSignal = ({
  connectionString,
  pool,
  schema,
}: {
  connectionString: string;
  pool: pg.Pool;
  schema: string;
}): AppendSignal => {
  const instance = randomUUID();
  const listeners = new Set<() => void>();
  let listening: Promise<pg.Client | undefined> | undefined;
  let notifyTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const wakeAll = () => {
    for (const listener of listeners) listener();
  };

  // The wake-up may be lost on a crash without harm, so it need not wait for a WAL flush.
  const notifySql = `BEGIN; SET LOCAL synchronous_commit = off;
    SELECT pg_notify(${pg.escapeLiteral(CHANNEL)}, ${pg.escapeLiteral(`${instance}:${schema}`)}); COMMIT`;

  const notifyOthers = () => {
    notifyTimer = undefined;
    if (!closed) pool.query(notifySql).catch(() => undefined);
  };

  const listen = async (): Promise<pg.Client | undefined> => {
    // Keep-alive and a connect timeout: a listener that hangs must not hold up close().
    const client = new pg.Client({ connectionString, keepAlive: true, connectionTimeoutMillis: 5000 });
    client.on('error', () => {
      // Polling takes over; the next subscription tries to listen again.
      listening = undefined;
      client.end().catch(() => undefined);
    });
    client.on('notification', ({ channel, payload = '' }) => {
      const separator = payload.indexOf(':');
      const [sender, about] = [payload.slice(0, separator), payload.slice(separator + 1)];
      if (channel === CHANNEL && about === schema && sender !== instance) wakeAll();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      if (closed) throw new Error('closed while connecting');
      return client;
    } catch {
      listening = undefined;
      await client.end().catch(() => undefined);
      return undefined;
    }
  };

  return {
    appended() {
      wakeAll();
      notifyTimer ??= setTimeout(notifyOthers, NOTIFY_COALESCE_MS);
    },
    onAppended(listener) {
      listeners.add(listener);
      if (!closed) listening ??= listen();
      return () => listeners.delete(listener);
    },
    async close() {
      closed = true;
      clearTimeout(notifyTimer);
      const client = await listening;
      listening = undefined;
      await client?.end().catch(() => undefined);
    },
  };
};

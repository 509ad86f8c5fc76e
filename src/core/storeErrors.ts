/**
 * What a database's errors say of the database itself, apart from the data: whether it is in
 * trouble at all (`isInfrastructureError`), and whether that trouble passes by itself
 * (`isStoreUnavailable`), a subset of it.
 */

/**
 * Errors that say a database could not serve a request at that moment, although the same request
 * may well succeed a moment later: a SQLite file whose write lock another process held past the
 * busy timeout, a PostgreSQL server that refused or dropped the connection, is shutting down or
 * starting up, has no connection left, or rolled the transaction back to break a deadlock; an
 * EventStoreDB cluster that is unreachable or changing leader. The API answers them `UNAVAILABLE`,
 * with a time to try again after, instead of an internal error: operators alert on those, and a
 * client has no reason to send such a request again.
 *
 * Not among them: a full disk, a corrupt or unreadable file, a constraint the data broke. Those do
 * not pass by themselves. Only the error itself is looked at, not its causes: an error that wraps
 * one of these (the projection runner stopped after it, say) means something else.
 */

/** SQLite's extended codes begin with their primary code (SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED_SHAREDCACHE...). */
const SQLITE_BUSY_OR_LOCKED = /^SQLITE_(BUSY|LOCKED)/;

/**
 * PostgreSQL's SQLSTATEs: class 08 (connection exception), 40001 and 40P01 (a serialization
 * failure, a deadlock: the transaction was rolled back), 53300 (too many connections), 55P03 (a
 * lock not available), 57P01 to 57P03 (an administrator's shutdown, a crash, a server starting up).
 */
const POSTGRES_TRANSIENT = /^(08[0-9A-Z]{3}|40001|40P01|53300|55P03|57P0[123])$/;

/** Node's own errors for a connection refused, reset or timed out, or a host not reached or resolved. */
const NETWORK_TRANSIENT = /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/;

/** What node-postgres says, without a code, when the server ended the connection or none came in time. */
const POSTGRES_CLIENT_MESSAGE = /^(Connection terminated|timeout exceeded when trying to connect)/i;

/** EventStoreDB's client (`ErrorType`): the cluster unreachable, changing leader, or not answering in time. */
const EVENTSTOREDB_TRANSIENT = new Set(['unavailable', 'not-leader', 'deadline-exceeded', 'timeout']);

export const isStoreUnavailable = (error: unknown): boolean => {
  if (!(error instanceof Error)) return false;
  const { code, type } = error as { code?: unknown; type?: unknown };
  if (typeof code === 'string' && (SQLITE_BUSY_OR_LOCKED.test(code) || POSTGRES_TRANSIENT.test(code) || NETWORK_TRANSIENT.test(code))) {
    return true;
  }
  if (typeof type === 'string' && EVENTSTOREDB_TRANSIENT.has(type)) return true;
  return POSTGRES_CLIENT_MESSAGE.test(error.message);
};

/** How long a client is told to wait before it sends a request that met an unavailable store again. */
export const RETRY_AFTER_SECONDS = 1;

/**
 * How long a background worker (the projection runner, the conversion completer) waits before it
 * tries again after an unavailable store: this first, then twice the last pause, up to 5 s.
 */
export const FIRST_PAUSE_AFTER_UNAVAILABLE_MS = 100;
export const nextPauseAfterUnavailable = (pauseMs: number): number => Math.min(pauseMs * 2, 5_000);

/** SQLSTATE classes of the database's own trouble: connection, resources, operator, system. */
const INFRASTRUCTURE_SQLSTATE = /^(08|40|53|57|58|XX|55P03)/;
/** Node's network errors, and SQLite's for a busy, locked, full, unreadable or unwritable file. */
const INFRASTRUCTURE_CODE =
  /^(ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|NOMEM|READONLY|CORRUPT|NOTADB|PROTOCOL))/;
/** What node-postgres says, without a code, when its connection or pool is gone. */
const INFRASTRUCTURE_MESSAGE =
  /Connection terminated|connection error|not queryable|Query read timeout|timeout exceeded when trying to connect|Cannot use a pool after calling end|The database connection is not open/i;

/**
 * Whether an error comes from the database rather than from the data (an event a projection
 * applies): the projection runner blames no projection for it. Every error `isStoreUnavailable`
 * accepts is one, bar EventStoreDB's, which never writes read models.
 */
export const isInfrastructureError = (error: unknown): boolean => {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (INFRASTRUCTURE_SQLSTATE.test(code) || INFRASTRUCTURE_CODE.test(code))) return true;
  return INFRASTRUCTURE_MESSAGE.test(error.message);
};

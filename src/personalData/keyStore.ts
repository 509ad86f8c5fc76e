/**
 * The people's data keys: one random AES-256 key per data subject, stored wrapped by the master
 * key in the read database (the SQLite file, or the PostgreSQL schema), never in the event log.
 * Destroying a key (`wrapped_key` set to NULL, the row kept as a tombstone) erases everything
 * sealed under it, wherever the events were copied.
 *
 * Writes must not wait for a key: keys are made ahead in batches (one durable transaction for
 * many), and a new subject takes the next one. A key made and never used is harmless.
 */
import type { SqlDatabase } from '../../projections/sqlDatabase';
import { freshRandom, masterKeyFingerprint, newDataKey, unwrapKey, unwrapKeys, wrapKey, wrapKeys } from './cipher';

const KEY_TABLES = `
  CREATE TABLE IF NOT EXISTS personal_data_keys (
    key_id TEXT PRIMARY KEY,
    wrapped_key TEXT,
    created_at TEXT NOT NULL,
    erased_at TEXT
  );
  CREATE TABLE IF NOT EXISTS personal_data_key_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );`;

/** A stored key row as it travels between stores (`npm run migrate-events`): still wrapped. */
export interface WrappedKey {
  keyId: string;
  wrappedKey: string | null;
  createdAt: string;
  erasedAt: string | null;
}

export class MissingKeyError extends Error {
  override readonly name = 'MissingKeyError';
  constructor(readonly keyIds: readonly string[]) {
    super(
      `Personal data keys ${keyIds.join(', ')} are not in the key store: it was restored from a backup older than ` +
        'the events, or the events were copied without their keys (npm run migrate-events carries them)',
    );
  }
}

export class WrongMasterKeyError extends Error {
  override readonly name = 'WrongMasterKeyError';
  constructor() {
    super('CRM_DATA_KEY is not the key that wrapped the personal data keys of this database');
  }
}

/**
 * Keys made per durable transaction. Each batch costs one fsync (about 5 ms on SQLite, where it
 * blocks the event loop): 256 a batch put 18 µs on every capture (bench/sealing.ts), 2048 puts
 * about 2 µs.
 */
const POOL_BATCH = 2048;
/** Rows per INSERT while a batch is stored: one statement, not one round trip, per this many keys. */
const INSERT_ROWS = 256;
/** How long a key read from the table is trusted before being read again. */
const KEY_TTL_MS = 30_000;
/** How often the count of erasures is looked at: a change (another instance erased) empties the cache. */
const ERASURE_CHECK_MS = 1_000;
const MAX_CACHED = 100_000;

/**
 * Creates the tables if missing. Instances starting together on one PostgreSQL schema race on
 * CREATE TABLE IF NOT EXISTS (one fails with a duplicate catalog row): the loser tries again and
 * finds them.
 */
export const createTables = async (db: SqlDatabase): Promise<void> => {
  for (let attempt = 1; ; attempt++) {
    try {
      await db.exec(KEY_TABLES);
      return;
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }
};

/**
 * A key's id: `k`, the time it was made (milliseconds, base 36, fixed width, so ids sort by it),
 * then 96 random bits. Keys are made in batches of `POOL_BATCH`: ids that sort by time put a batch
 * at the end of the table's primary key, a few pages, where wholly random ids fell on as many
 * pages as the batch has keys. At 114,000 people a batch of random ids wrote 786 pages into the
 * WAL, 700 of them that index; every one is written again by the next checkpoint, which runs on
 * the thread whose commit brings it on (the API's event loop). Time-ordered ids write about 100.
 */
export const newKeyId = (now: number): string => `k${now.toString(36).padStart(TIME_DIGITS, '0')}${freshRandom(12).toString('base64url')}`;
/** Base-36 digits of the time in a key id: enough until the year 5188. */
const TIME_DIGITS = 9;

/** Marks keys destroyed. Run inside the caller's transaction (the erasure projection's). */
export const destroyKeys = async (db: SqlDatabase, keyIds: readonly string[], at: string): Promise<number> => {
  // Every process trusting a cached key looks at this count at most once a second (see `keys`).
  await db.run(
    `INSERT INTO personal_data_key_settings (name, value) VALUES ('erasures', '1')
     ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(personal_data_key_settings.value AS INTEGER) + 1 AS TEXT)`,
  );
  let changed = 0;
  for (const keyId of keyIds) {
    const { changes } = await db.run(
      'UPDATE personal_data_keys SET wrapped_key = NULL, erased_at = COALESCE(erased_at, ?) WHERE key_id = ?',
      [at, keyId],
    );
    changed += changes;
  }
  return changed;
};

export class KeyStore {
  private pool: { keyId: string; key: Buffer }[] = [];
  private refilling: Promise<void> | undefined;
  private readonly cache = new Map<string, { key: Buffer; at: number }>();
  /** Keys known destroyed: they never come back. */
  private readonly erased = new Set<string>();
  private erasuresSeen: string | undefined;
  private readonly missingReported = new Set<string>();
  /** Told once per key that events name but this store does not hold; the server logs it. */
  onMissingKeys: (keyIds: string[]) => void = (keyIds) => {
    console.warn(`${new MissingKeyError(keyIds).message}; their personal data reads as erased`);
  };
  private erasuresCheckedAt = 0;

  private constructor(
    readonly db: SqlDatabase,
    private readonly masterKey: Buffer,
    private readonly clock: () => number,
  ) {}

  static async open(db: SqlDatabase, masterKey: Buffer, clock: () => number = Date.now): Promise<KeyStore> {
    await createTables(db);
    const fingerprint = masterKeyFingerprint(masterKey);
    await db.run(
      `INSERT INTO personal_data_key_settings (name, value) VALUES ('master_key_fingerprint', ?) ON CONFLICT (name) DO NOTHING`,
      [fingerprint],
    );
    const stored = await db.get<{ value: string }>(
      `SELECT value FROM personal_data_key_settings WHERE name = 'master_key_fingerprint'`,
    );
    if (stored?.value !== fingerprint) throw new WrongMasterKeyError();
    const keyStore = new KeyStore(db, masterKey, clock);
    await keyStore.noticeErasures(clock());
    return keyStore;
  }

  /** A fresh key at once when one is made ahead (the common case), without waiting: see `allocate`. */
  takeReady(): { keyId: string; key: Buffer } | undefined {
    const next = this.pool.shift();
    if (next === undefined) return undefined;
    if (this.pool.length < POOL_BATCH / 4) void this.refill().catch(() => undefined);
    this.remember(next.keyId, next.key);
    return next;
  }

  /** A key read within its time to live, at once; undefined when it must be looked up (`keys`). */
  cached(keyId: string): Buffer | null | undefined {
    if (this.erased.has(keyId)) return null;
    const now = this.clock();
    if (now - this.erasuresCheckedAt >= ERASURE_CHECK_MS) return undefined;
    const cached = this.cache.get(keyId);
    return cached && now - cached.at < KEY_TTL_MS ? cached.key : undefined;
  }

  /** A fresh key for a new data subject, already stored durably. */
  async allocate(): Promise<{ keyId: string; key: Buffer }> {
    while (this.pool.length === 0) await this.refill();
    const next = this.pool.shift()!;
    if (this.pool.length < POOL_BATCH / 4) void this.refill().catch(() => undefined);
    this.remember(next.keyId, next.key);
    return next;
  }

  private refill(): Promise<void> {
    this.refilling ??= (async () => {
      const made = this.clock();
      const now = new Date(made).toISOString();
      const fresh = Array.from({ length: POOL_BATCH }, () => ({ keyId: newKeyId(made), key: newDataKey() }));
      const wrapped = wrapKeys(this.masterKey, fresh.map(({ key }) => key));
      await this.db.transaction(async (tx) => {
        for (let start = 0; start < fresh.length; start += INSERT_ROWS) {
          const rows = fresh.slice(start, start + INSERT_ROWS);
          await tx.run(
            `INSERT INTO personal_data_keys (key_id, wrapped_key, created_at) VALUES ${rows.map(() => '(?, ?, ?)').join(', ')}`,
            rows.flatMap(({ keyId }, index) => [keyId, wrapped[start + index]!.toString('base64'), now]),
          );
        }
      });
      this.pool.push(...fresh);
    })().finally(() => {
      this.refilling = undefined;
    });
    return this.refilling;
  }

  /**
   * Each key by id: its bytes, or null when it was destroyed, or when it is not in this store at
   * all (reported through `onMissingKeys`: a read store restored from an older backup, or a new
   * read store beside an EventStoreDB log whose keys were not copied).
   */
  async keys(keyIds: Iterable<string>): Promise<Map<string, Buffer | null>> {
    const found = new Map<string, Buffer | null>();
    const wanted: string[] = [];
    const now = this.clock();
    if (now - this.erasuresCheckedAt >= ERASURE_CHECK_MS && this.cache.size > 0) await this.noticeErasures(now);
    for (const keyId of new Set(keyIds)) {
      if (this.erased.has(keyId)) found.set(keyId, null);
      else {
        const cached = this.cache.get(keyId);
        if (cached && now - cached.at < KEY_TTL_MS) found.set(keyId, cached.key);
        else wanted.push(keyId);
      }
    }
    for (let start = 0; start < wanted.length; start += 500) {
      const batch = wanted.slice(start, start + 500);
      const rows = await this.db.all<{ key_id: string; wrapped_key: string | null }>(
        `SELECT key_id, wrapped_key FROM personal_data_keys WHERE key_id IN (${batch.map(() => '?').join(', ')})`,
        batch,
      );
      const held: { keyId: string; wrapped: Buffer }[] = [];
      for (const row of rows) {
        if (row.wrapped_key === null) {
          this.forget([row.key_id]);
          found.set(row.key_id, null);
        } else held.push({ keyId: row.key_id, wrapped: Buffer.from(row.wrapped_key, 'base64') });
      }
      unwrapKeys(this.masterKey, held).forEach((key, index) => {
        this.remember(held[index]!.keyId, key);
        found.set(held[index]!.keyId, key);
      });
    }
    const missing = wanted.filter((keyId) => !found.has(keyId));
    if (missing.length > 0) {
      // Read as erased, never as an error: a key that is gone cannot open anything, and a
      // reader (a projection catching up) must go on. Said once per key, loudly.
      for (const keyId of missing) found.set(keyId, null);
      const unseen = missing.filter((keyId) => !this.missingReported.has(keyId));
      for (const keyId of unseen) this.missingReported.add(keyId);
      if (unseen.length > 0) this.onMissingKeys(unseen);
    }
    return found;
  }

  /** Drops every cached key when an erasure was recorded since the last look (by any process). */
  private async noticeErasures(now: number): Promise<void> {
    this.erasuresCheckedAt = now;
    const row = await this.db.get<{ value: string }>(`SELECT value FROM personal_data_key_settings WHERE name = 'erasures'`);
    const count = row?.value ?? '0';
    if (this.erasuresSeen !== undefined && count !== this.erasuresSeen) this.cache.clear();
    this.erasuresSeen = count;
  }

  /** Known destroyed from now on in this process (the erasure was read or written here). */
  forget(keyIds: readonly string[]): void {
    for (const keyId of keyIds) {
      // Dropped, not zeroed: an event read before the erasure may still be opened with it.
      this.cache.delete(keyId);
      this.erased.add(keyId);
    }
  }

  private remember(keyId: string, key: Buffer): void {
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(keyId, { key, at: this.clock() });
  }

  /**
   * Copies these keys into another key store (rewrapped under its master key), before the events
   * sealed under them are copied there. Throws `MissingKeyError` when one is not here.
   */
  async copyTo(target: KeyStore, keyIds: readonly string[]): Promise<void> {
    if (keyIds.length === 0) return;
    const rows = await this.exportWrapped([...new Set(keyIds)]);
    const found = new Set(rows.map((row) => row.keyId));
    const missing = keyIds.filter((keyId) => !found.has(keyId));
    if (missing.length > 0) throw new MissingKeyError([...new Set(missing)]);
    await target.importWrapped(rows, this.masterKey);
  }

  /** The wrapped rows of these keys, for carrying them to another store. */
  async exportWrapped(keyIds: readonly string[]): Promise<WrappedKey[]> {
    const rows: KeyRow[] = [];
    for (const batch of chunks(keyIds, 500)) {
      rows.push(
        ...(await this.db.all<KeyRow>(
          `SELECT key_id, wrapped_key, created_at, erased_at FROM personal_data_keys WHERE key_id IN (${batch.map(() => '?').join(', ')})`,
          batch,
        )),
      );
    }
    return rows.map((row) => ({
      keyId: row.key_id,
      wrappedKey: row.wrapped_key,
      createdAt: row.created_at,
      erasedAt: row.erased_at,
    }));
  }

  /**
   * Stores keys wrapped by `sourceMasterKey` (the other store's; this one's when omitted),
   * rewrapped under this store's master key. A key destroyed on either side stays destroyed.
   */
  async importWrapped(keys: readonly WrappedKey[], sourceMasterKey: Buffer = this.masterKey): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const row of keys) {
        const wrapped =
          row.wrappedKey === null
            ? null
            : wrapKey(this.masterKey, row.keyId, unwrapKey(sourceMasterKey, row.keyId, Buffer.from(row.wrappedKey, 'base64'))).toString(
                'base64',
              );
        await tx.run(
          `INSERT INTO personal_data_keys (key_id, wrapped_key, created_at, erased_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (key_id) DO UPDATE SET
             wrapped_key = CASE WHEN personal_data_keys.wrapped_key IS NULL OR excluded.wrapped_key IS NULL THEN NULL ELSE personal_data_keys.wrapped_key END,
             erased_at = COALESCE(personal_data_keys.erased_at, excluded.erased_at)`,
          [row.keyId, wrapped, row.createdAt, row.erasedAt],
        );
      }
    });
  }
}

interface KeyRow {
  key_id: string;
  wrapped_key: string | null;
  created_at: string;
  erased_at: string | null;
}

const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
};

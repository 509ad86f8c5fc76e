/**
 * The key store on a SQLite file, as the API keeps it: how much a batch of fresh keys writes.
 * Every commit's pages go to the write-ahead log, and the commit (with the checkpoint a long log
 * brings on) holds the event loop meanwhile: a batch that rewrote the whole key index stalled
 * every request for as long.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openSqliteDatabase, type SqlDatabase } from '../../projections/sqlDatabase';
import { newDataKey } from './cipher';
import { KeyStore } from './keyStore';

const BATCH = 2048;
const PAGE_BYTES = 4096;
const FRAME_HEADER_BYTES = 24;

let dir: string;
let file: string;
let db: SqlDatabase;
let now: number;
let keys: KeyStore;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keystore-'));
  file = path.join(dir, 'keys.sqlite');
  db = openSqliteDatabase(file, { synchronous: 'FULL' });
  now = Date.parse('2026-03-01T10:00:00.000Z');
  keys = await KeyStore.open(db, newDataKey(), () => now);
});
afterEach(async () => {
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Takes `count` fresh keys, a minute apart in batches: each batch is made (and stored) when the pool runs low. */
const takeKeys = async (count: number): Promise<string[]> => {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    if (i % BATCH === 0) now += 60_000;
    ids.push((await keys.allocate()).keyId);
  }
  return ids;
};

it('a batch of fresh keys made beside 40,000 others writes about a batch worth of pages, not the whole key index', async () => {
  await takeKeys(40_000);
  // The log emptied, then one more batch made: what it holds is what that batch wrote.
  const other = new Database(file);
  other.pragma('wal_checkpoint(TRUNCATE)');
  expect(fs.statSync(`${file}-wal`).size).toBe(0);
  const rowsBefore = other.prepare('SELECT COUNT(*) AS n FROM personal_data_keys').get() as { n: number };
  now += 60_000;
  // The pool is refilled when it runs below a quarter of a batch; allocating past that makes the next batch.
  await takeKeysWithoutTicking(BATCH);
  const rowsAfter = other.prepare('SELECT COUNT(*) AS n FROM personal_data_keys').get() as { n: number };
  expect(rowsAfter.n).toBeGreaterThan(rowsBefore.n);
  const frames = fs.statSync(`${file}-wal`).size / (PAGE_BYTES + FRAME_HEADER_BYTES);
  const indexPages = (other.prepare("SELECT COUNT(*) AS n FROM dbstat WHERE name = 'sqlite_autoindex_personal_data_keys_1'").get() as { n: number }).n;
  other.close();
  // Measured: 98 frames, the batch's rows and its end of the index. Random ids wrote 416 here, most
  // of the index's 400 pages (and 700 pages at 114,000 people).
  expect(indexPages).toBeGreaterThan(300);
  expect(frames).toBeLessThan(160);
});

it('keys made later have ids that sort after those made earlier', async () => {
  const taken = await takeKeys(3 * BATCH);
  expect(new Set(taken).size).toBe(3 * BATCH);
  expect(taken.every((id) => /^k[0-9a-z]{9}[A-Za-z0-9_-]{16}$/.test(id))).toBe(true);
  const stored = await db.all<{ created_at: string }>('SELECT created_at FROM personal_data_keys ORDER BY key_id');
  const times = stored.map((row) => row.created_at);
  expect(new Set(times).size).toBeGreaterThan(2);
  expect(times).toEqual([...times].sort());
});

const takeKeysWithoutTicking = async (count: number) => {
  for (let i = 0; i < count; i++) await keys.allocate();
};

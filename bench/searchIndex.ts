/**
 * What the leads' search index saves: `npm run bench:search`, on the history `npm run bench --
 * --only insights` generates and keeps (BENCH_LEADS leads, 114,000 by default; seed BENCH_SEED),
 * which must exist already. A few searches, each asked as `leads(filter: {search}, first: 20)`
 * asks it (`findLeads`: the count and the first page), BENCH_ROUNDS times (30) through the index
 * and by scanning, in turn:
 * - on SQLite, on the cached read database itself (FTS5; the scan is what `findLeads` runs where
 *   there is no such index);
 * - on PostgreSQL (BENCH_SEARCH_POSTGRES=0 leaves it out), on a copy of its leads in a scratch
 *   schema of TEST_DATABASE_URL's database: as `findLeads` asks now (the narrow table of search
 *   texts, with its pg_trgm index), and as it asked before (a pg_trgm index on the leads' own
 *   rows, which the count and the page read), in turn.
 * In this process, without HTTP or GraphQL: the insights bench measures a search over HTTP.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { findLeads } from '../projections/leads/leadsQueries';
import { leadsProjection } from '../projections/leads/leadsProjection';
import { LEAD_SEARCH } from '../projections/leads/leadSearch';
import { openPostgresDatabase } from '../projections/postgresDatabase';
import { containing } from '../projections/pagination';
import { openSqliteDatabase, type SqlDatabase, type SqlValue } from '../projections/sqlDatabase';

const LEADS = Number(process.env.BENCH_LEADS ?? 114_000);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SEARCHES = ['garcia', 'gmail', 'mar', 'maria garcia'];

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const figures = (times: number[]) => {
  const sorted = [...times].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms`;
};

const timed = async (ask: () => Promise<unknown>): Promise<number> => {
  const started = process.hrtime.bigint();
  await ask();
  return Number(process.hrtime.bigint() - started) / 1e6;
};

/**
 * The count and the first page of a search read from the leads' own rows by LIKE, as `findLeads`
 * asked a search where it had no index of its own: on SQLite, a scan; on PostgreSQL, through a
 * GIN index of trigrams on those rows when there is one.
 */
const fromTheLeadsRows = async (db: SqlDatabase, search: string): Promise<number> => {
  const pattern = containing(search);
  const row = await db.get<{ total: number }>(`SELECT CAST(COUNT(*) AS INTEGER) AS total FROM read_leads WHERE search_text LIKE ? ESCAPE '\\'`, [pattern]);
  await db.all(`SELECT * FROM read_leads WHERE search_text LIKE ? ESCAPE '\\' ORDER BY captured_at DESC, id DESC LIMIT 21`, [pattern]);
  return Number(row?.total ?? 0);
};

/** Each search as `findLeads` asks it now and read from the leads' rows, in turn, after one ask each to warm up. */
const compare = async (label: string, db: SqlDatabase, before: string, now: string) => {
  for (const search of SEARCHES) {
    const ways = {
      before: () => fromTheLeadsRows(db, search),
      now: async () => (await findLeads(db, { filter: { search }, first: 20 })).totalCount,
    };
    const totals = { before: await ways.before(), now: await ways.now() };
    if (totals.before !== totals.now) throw new Error(`"${search}": ${totals.before} leads ${before}, ${totals.now} ${now}`);
    const times = { before: [] as number[], now: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const way of round % 2 ? (['now', 'before'] as const) : (['before', 'now'] as const)) times[way].push(await timed(ways[way]));
    }
    console.log(`${label} "${search}" (${totals.now} leads): ${before} ${figures(times.before)}; ${now} ${figures(times.now)}`);
  }
};

async function main() {
  const dataDir = path.join(__dirname, '.cache', `insights-${LEADS}-seed${SEED}`);
  const file = path.join(dataDir, 'crm.sqlite');
  if (!existsSync(path.join(dataDir, 'generated.json'))) {
    throw new Error(`${dataDir} holds no history yet: run BENCH_LEADS=${LEADS} npm run bench -- --only insights first`);
  }
  const sqlite = openSqliteDatabase(file);
  try {
    // Built from the rows if the cached read database predates it, as the API's first start would.
    await LEAD_SEARCH.setup(sqlite);
    console.log(`Lead searches (count and first page of 20), ${ROUNDS} rounds each way, in turn, on ${LEADS} leads:`);
    await compare('SQLite', sqlite, 'scanning', 'through the index');
  } finally {
    await sqlite.close();
  }
  if (process.env.BENCH_SEARCH_POSTGRES === '0') return;
  const schema = `bench_search_${process.pid}`;
  const postgres = await openPostgresDatabase({ connectionString: DATABASE_URL, schema });
  const source = new Database(file, { readonly: true });
  try {
    // The projection's tables as the API makes them: the leads, and their search texts beside (filled by trigger as the rows go in).
    await leadsProjection.setup(postgres);
    const select = source.prepare('SELECT * FROM read_leads');
    const columns = select.columns().map((column) => column.name);
    let rows: SqlValue[][] = [];
    for (const row of select.raw(true).iterate() as IterableIterator<SqlValue[]>) {
      rows.push(row);
      if (rows.length === 5000) {
        await postgres.insertRows('read_leads', columns, rows);
        rows = [];
      }
    }
    await postgres.insertRows('read_leads', columns, rows);
    // Before: a GIN index of trigrams on the leads' own rows, the count and the page both read there.
    await postgres.exec(`CREATE INDEX read_leads_by_search_trigrams ON read_leads USING gin (search_text public.gin_trgm_ops)`);
    await postgres.exec('ANALYZE read_leads; ANALYZE read_leads_search_text');
    const sizes = await postgres.all<{ name: string; size: string }>(
      `SELECT c.relname AS name, pg_size_pretty(pg_relation_size(c.oid)) AS size FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relname IN ('read_leads', 'read_leads_search_text', 'read_leads_by_search_trigrams', 'read_leads_search_text_by_trigrams') AND n.nspname = current_schema() ORDER BY 1`,
    );
    console.log(`PostgreSQL sizes: ${sizes.map(({ name, size }) => `${name} ${size}`).join(', ')}`);
    await compare('PostgreSQL', postgres, "the leads' own rows through their trigram index (before)", 'the narrow table of search texts');
  } finally {
    source.close();
    await postgres.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await postgres.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

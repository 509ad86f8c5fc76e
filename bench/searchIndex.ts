/**
 * What the leads' search index saves: `npm run bench:search`, on the history `npm run bench --
 * --only insights` generates and keeps (BENCH_LEADS leads, 114,000 by default; seed BENCH_SEED),
 * which must exist already. A few searches, each asked as `leads(filter: {search}, first: 20)`
 * asks it (`findLeads`: the count and the first page), BENCH_ROUNDS times (30) through the index
 * and by scanning, in turn:
 * - on SQLite, on the cached read database itself (FTS5; the scan is what `findLeads` runs where
 *   there is no such index);
 * - on PostgreSQL (BENCH_SEARCH_POSTGRES=0 leaves it out), on a copy of its leads in a scratch
 *   schema of TEST_DATABASE_URL's database, without then with the pg_trgm index.
 * In this process, without HTTP or GraphQL: the insights bench measures a search over HTTP.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { findLeads } from '../projections/leads/leadsQueries';
import { leadsProjection } from '../projections/leads/leadsProjection';
import { LEAD_SEARCH } from '../projections/leads/leadSearch';
import { openPostgresDatabase } from '../projections/postgresDatabase';
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

/** Each search through `indexed` and `scanning` in turn, after one ask each to warm up. */
const compare = async (label: string, ways: Record<'scanning' | 'indexed', SqlDatabase>) => {
  for (const search of SEARCHES) {
    const ask = (db: SqlDatabase) => findLeads(db, { filter: { search }, first: 20 });
    const totals = { scanning: (await ask(ways.scanning)).totalCount, indexed: (await ask(ways.indexed)).totalCount };
    if (totals.scanning !== totals.indexed) throw new Error(`"${search}": ${totals.scanning} leads scanning, ${totals.indexed} through the index`);
    const times = { scanning: [] as number[], indexed: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const way of round % 2 ? (['indexed', 'scanning'] as const) : (['scanning', 'indexed'] as const)) {
        times[way].push(await timed(() => ask(ways[way])));
      }
    }
    console.log(`${label} "${search}" (${totals.indexed} leads): scanning ${figures(times.scanning)}; through the index ${figures(times.indexed)}`);
  }
};

/** The same connection, as `findLeads` uses one where there is no search index (it then scans). */
const withoutSearchIndex = (db: SqlDatabase): SqlDatabase => ({ ...db, dialect: 'postgres' });

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
    await compare('SQLite', { scanning: withoutSearchIndex(sqlite), indexed: sqlite });
  } finally {
    await sqlite.close();
  }
  if (process.env.BENCH_SEARCH_POSTGRES === '0') return;
  const schema = `bench_search_${process.pid}`;
  const postgres = await openPostgresDatabase({ connectionString: DATABASE_URL, schema });
  const source = new Database(file, { readonly: true });
  try {
    await leadsProjection.setup(postgres);
    await postgres.exec('DROP INDEX IF EXISTS read_leads_by_search_trigrams');
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
    await postgres.exec('ANALYZE read_leads');
    const scanning: Record<string, number[]> = {};
    for (const search of SEARCHES) {
      scanning[search] = [];
      await findLeads(postgres, { filter: { search }, first: 20 });
      for (let round = 0; round < ROUNDS; round++) scanning[search]!.push(await timed(() => findLeads(postgres, { filter: { search }, first: 20 })));
    }
    const started = Date.now();
    await LEAD_SEARCH.setup(postgres);
    const built = Date.now() - started;
    await postgres.exec('ANALYZE read_leads');
    const size = await postgres.get<{ size: string }>(
      "SELECT pg_size_pretty(pg_relation_size(c.oid)) AS size FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'read_leads_by_search_trigrams' AND n.nspname = current_schema()",
    );
    if (size === undefined) throw new Error('No pg_trgm index: the role may not create the extension');
    console.log(`PostgreSQL: pg_trgm index built in ${built} ms, ${size.size}`);
    for (const search of SEARCHES) {
      const times: number[] = [];
      const { totalCount } = await findLeads(postgres, { filter: { search }, first: 20 });
      for (let round = 0; round < ROUNDS; round++) times.push(await timed(() => findLeads(postgres, { filter: { search }, first: 20 })));
      console.log(`PostgreSQL "${search}" (${totalCount} leads): scanning ${figures(scanning[search]!)}; through the index ${figures(times)}`);
    }
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

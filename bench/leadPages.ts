/**
 * `npm run bench:lead-pages`: what a page of leads costs the API's main thread apart from HTTP,
 * on the insights bench's SQLite history (`BENCH_LEADS`, 114,000 by default; generated when
 * missing, as the insights bench does). Under the insights bench's readers (issue 11, goal 4) a
 * page of leads is re-read at every request, since every capture changes the leads table, and
 * costs several times a report answered from memory. Each figure is the median of 5 loops:
 * - the page the insights readers ask (21 rows: status and owner, newest first) and a lead by
 *   its key, through the read models' connection (`openSqliteDatabase`: its queue included),
 *   beside the same statements run on better-sqlite3 alone, which builds the row objects itself
 *   (as the connection let it before f24f010);
 * - the views of that page (`fromRow`);
 * - the cost estimate of a page asked with `first: $first`, which the request guards keep per
 *   value of `$first` (requestGuards.ts).
 */
import 'reflect-metadata';
import Database from 'better-sqlite3';
import path from 'node:path';
import { parse } from 'graphql';
import { openSqliteDatabase } from '../projections/sqlDatabase';
import { fromRow, type LeadRow } from '../projections/leads/leadView';
import { buildCrmSchema } from '../src/graphql/schema';
import { queryCost } from '../src/graphql/shared/queryCost';
import { DEFAULT_SALES_TEAM } from '../src/seeding/data';
import { envNumber } from './harness';
import { ensureDataset } from './insights';

const LOOPS = 5;

/** Microseconds per call of `work`, the median of LOOPS loops of `calls` calls. */
const microseconds = async (calls: number, work: () => unknown): Promise<number> => {
  const loops: number[] = [];
  for (let loop = 0; loop < LOOPS; loop++) {
    const started = performance.now();
    for (let call = 0; call < calls; call++) await work();
    loops.push(((performance.now() - started) * 1000) / calls);
  }
  return loops.sort((a, b) => a - b)[Math.floor(LOOPS / 2)]!;
};

const main = async () => {
  const { dataset } = await ensureDataset(envNumber('BENCH_LEADS', 114_000, 1), envNumber('BENCH_SEED', 1, 0));
  const file = path.join(dataset.dataDir, 'crm.sqlite');
  const page = 'SELECT * FROM read_leads WHERE status = ? AND owner_id = ? ORDER BY captured_at DESC, id DESC LIMIT ?';
  const pageParams = ['QUALIFIED', DEFAULT_SALES_TEAM[2]!, 21];
  const byKey = 'SELECT * FROM read_leads WHERE id = ?';
  const db = openSqliteDatabase(file);
  const plain = new Database(file, { readonly: true });
  try {
    const rows = await db.all<LeadRow>(page, pageParams);
    const id = String(rows[0]!.id);
    const plainPage = plain.prepare(page);
    const plainByKey = plain.prepare(byKey);
    const lines: [string, number][] = [
      [`a page of ${rows.length} leads, rows built by the read models' connection`, await microseconds(2_000, () => db.all(page, pageParams))],
      ['the same page, rows built by better-sqlite3', await microseconds(2_000, () => plainPage.all(...pageParams))],
      ['a lead by its key, rows built by the read models\' connection', await microseconds(20_000, () => db.get(byKey, [id]))],
      ['the same lead, rows built by better-sqlite3', await microseconds(20_000, () => plainByKey.get(id))],
      [`the views of the page's ${rows.length} rows (fromRow)`, await microseconds(20_000, () => rows.map(fromRow))],
    ];
    const schema = await buildCrmSchema();
    const paged = parse('query($first: Int) { leads(first: $first) { totalCount edges { node { id status person { lastName } } } } }');
    lines.push(['the cost estimate of leads(first: $first), when not kept', await microseconds(2_000, () => queryCost(schema, paged, undefined, { first: 20 }))]);
    for (const [what, us] of lines) console.log(`${what.padEnd(64)} ${us.toFixed(1).padStart(8)} us`);
  } finally {
    plain.close();
    await db.close();
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

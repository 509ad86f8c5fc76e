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
 *   value of `$first` (requestGuards.ts);
 * - that page through `findLeads` (its count included), and a page of accounts through
 *   `findAccounts`: the time of a call and this process's CPU time per call, one call at a time and
 *   10 at once; with BENCH_BASE_TREE, alternated loop by loop with another revision's (`comparePages`). With `BENCH_STORE=postgres`, on a
 *   copy of the PostgreSQL history of `npm run bench -- --only insightsPostgres` too (generated
 *   when missing).
 */
import 'reflect-metadata';
import Database from 'better-sqlite3';
import path from 'node:path';
import { parse } from 'graphql';
import { openPostgresDatabase } from '../projections/postgresDatabase';
import { findAccounts } from '../projections/accounts/accountsReadModel';
import { findLeads } from '../projections/leads/leadsQueries';
import { openSqliteDatabase, type SqlDatabase } from '../projections/sqlDatabase';
import { fromRow, type LeadRow } from '../projections/leads/leadView';
import { buildCrmSchema } from '../src/graphql/schema';
import { queryCost } from '../src/graphql/shared/queryCost';
import { DEFAULT_SALES_TEAM } from '../src/seeding/data';
import { envNumber } from './harness';
import { ensureDataset } from './insights';
import { ensurePostgresDataset, servedPostgresCopyOf } from './insightsPostgres';

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

/** Microseconds of time and of this process's CPU per call of each way, the medians of LOOPS loops alternated. */
const alternated = async (calls: number, inFlight: number, ways: Record<string, () => Promise<unknown>>) => {
  const loops = Object.fromEntries(Object.keys(ways).map((name) => [name, { time: [] as number[], cpu: [] as number[] }]));
  for (let loop = 0; loop < LOOPS; loop++) {
    for (const [name, work] of Object.entries(ways)) {
      const started = performance.now();
      const cpu = process.cpuUsage();
      await Promise.all(Array.from({ length: inFlight }, async () => {
        for (let call = 0; call < calls / inFlight; call++) await work();
      }));
      const used = process.cpuUsage(cpu);
      loops[name]!.time.push(((performance.now() - started) * 1000) / calls);
      loops[name]!.cpu.push((used.user + used.system) / calls);
    }
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(LOOPS / 2)]!;
  return Object.entries(loops).map(([name, { time, cpu }]) => ({ name, time: median(time), cpu: median(cpu) }));
};

/**
 * `findLeads` by status and owner, newest first, 20 a page, and `findAccounts` (a list kept in
 * name order, `findPageBySortKey`) by owner, 20 a page; with BENCH_BASE_TREE (a checkout of
 * another revision, such as a git worktree sharing node_modules), each beside that tree's on the
 * same database, loop by loop.
 */
const comparePages = async (store: string, db: SqlDatabase): Promise<string[]> => {
  const owner = DEFAULT_SALES_TEAM[2]!;
  const leadFilter = { status: 'QUALIFIED', ownerId: owner } as const;
  const lists = { findLeads, findAccounts };
  const trees: Record<string, typeof lists> = { 'this tree': lists };
  const baseTree = process.env.BENCH_BASE_TREE;
  if (baseTree !== undefined) {
    const { findLeads: baseLeads } = (await import(path.resolve(baseTree, 'projections/leads/leadsQueries.ts'))) as typeof lists;
    const { findAccounts: baseAccounts } = (await import(path.resolve(baseTree, 'projections/accounts/accountsReadModel.ts'))) as typeof lists;
    trees[`BENCH_BASE_TREE (${baseTree})`] = { findLeads: baseLeads, findAccounts: baseAccounts };
  }
  const askedOf = (tree: typeof lists) => ({
    findLeads: () => tree.findLeads(db, { filter: leadFilter, first: 20 }),
    findAccounts: () => tree.findAccounts(db, { filter: { ownerId: owner }, first: 20 }),
  });
  const lines: string[] = [];
  for (const list of ['findLeads', 'findAccounts'] as const) {
    const ways = Object.fromEntries(Object.entries(trees).map(([name, tree]) => [name, askedOf(tree)[list]]));
    const pages = await Promise.all(Object.values(ways).map((way) => way()));
    if (pages.some((page) => JSON.stringify(page) !== JSON.stringify(pages[0]))) throw new Error(`${store}: the trees answer other pages of ${list}`);
    for (const inFlight of [1, 10]) {
      for (const { name, time, cpu } of await alternated(2_000, inFlight, ways)) {
        lines.push(
          `${store}, ${list}: ${pages[0]!.nodes.length} of ${pages[0]!.totalCount}, ${inFlight} at once, ${name}: ` +
            `${time.toFixed(0)} us a call, this process's CPU ${cpu.toFixed(0)} us a call`,
        );
      }
    }
  }
  return lines;
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
    for (const line of await comparePages('SQLite', db)) console.log(line);
  } finally {
    plain.close();
    await db.close();
  }
  if (process.env.BENCH_STORE === 'postgres') {
    const { dataset: kept } = await ensurePostgresDataset(envNumber('BENCH_LEADS', 114_000, 1), envNumber('BENCH_SEED', 1, 0));
    const { served } = await servedPostgresCopyOf(kept);
    const postgres = await openPostgresDatabase({ connectionString: served.environment.DATABASE_URL! });
    try {
      for (const line of await comparePages('PostgreSQL', postgres)) console.log(line);
    } finally {
      await postgres.close();
      await served.remove();
    }
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

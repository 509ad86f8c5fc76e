/**
 * `npm run bench:rollups`: what rebuilding the KPI rollups from their facts costs at the end of a
 * bulk rebuild's stage (`rebuildRollups`, which the seed and `npm run replay` wait for), on the
 * SQLite history `npm run bench -- --only insights` generates and keeps (BENCH_LEADS leads, 114,000
 * by default: about a million events; seed BENCH_SEED; generated when missing). Each round adds the
 * rollups up in SQLite (one `INSERT … SELECT … GROUP BY` per rollup) and in JavaScript (every fact
 * read, its contributions added up by cell: how it was done before, and still on PostgreSQL), in
 * turn, each in a transaction rolled back; the first round checks that both leave the same rows,
 * which are the rows the history holds. BENCH_ROUNDS (5) rounds; the medians and their ratio.
 */
import path from 'node:path';
import { ensureDataset } from './insights';
import { envNumber, median } from './harness';
import { rebuildRollups, rebuildRollupsInJavaScript, rollupRowsAsText } from '../projections/kpis/kpiRollups';
import { openSqliteDatabase, type SqlDatabase } from '../projections/sqlDatabase';

const leads = envNumber('BENCH_LEADS', 114_000, 1);
const seed = envNumber('BENCH_SEED', 1, 0);
const rounds = envNumber('BENCH_ROUNDS', 5, 1);

class RolledBack extends Error {}

/** `rebuild` in a transaction rolled back: its milliseconds, and the rows it left when asked. */
const timed = async (db: SqlDatabase, rebuild: (tx: SqlDatabase) => Promise<void>, rows: boolean) => {
  let ms = 0;
  let left: string[] | undefined;
  await db
    .transaction(async (tx) => {
      const start = performance.now();
      await rebuild(tx);
      ms = performance.now() - start;
      if (rows) left = await rollupRowsAsText(tx);
      throw new RolledBack();
    })
    .catch((error: unknown) => {
      if (!(error instanceof RolledBack)) throw error;
    });
  return { ms, left };
};

const main = async () => {
  const { dataset } = await ensureDataset(leads, seed);
  const db = openSqliteDatabase(path.join(dataset.dataDir, 'crm.sqlite'));
  try {
    const held = await rollupRowsAsText(db);
    const times = { sql: [] as number[], js: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['sql', 'js'] as const) : (['js', 'sql'] as const);
      for (const way of order) {
        const { ms, left } = await timed(db, way === 'sql' ? rebuildRollups : rebuildRollupsInJavaScript, round === 0);
        if (left !== undefined && JSON.stringify(left) !== JSON.stringify(held)) {
          throw new Error(`The rollups rebuilt ${way === 'sql' ? 'in SQLite' : 'in JavaScript'} differ from those the history holds`);
        }
        times[way].push(ms);
        console.log(`round ${round + 1}: ${way === 'sql' ? 'in SQLite' : 'in JavaScript'} ${ms.toFixed(0)} ms`);
      }
    }
    const [sql, js] = [median(times.sql), median(times.js)];
    console.log(
      `KPI rollups rebuilt from the facts of ${dataset.events} events (${held.length} cells, the same rows both ways): ` +
        `in SQLite ${sql.toFixed(0)} ms, in JavaScript ${js.toFixed(0)} ms (median of ${rounds}); SQLite / JavaScript ${(sql / js).toFixed(2)}`,
    );
  } finally {
    await db.close();
  }
};

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

/**
 * `npm run bench:copy-text`: how fast a rebuild's copy into PostgreSQL turns staged rows into
 * COPY text (`rowAsCopyText`, projections/postgresDatabase.ts), on this thread, which also reads
 * the staged rows and stages the next part meanwhile. The rows are the read-model tables of the
 * insights bench's SQLite history (generated when missing, as `npm run bench -- --only insights`
 * does), read as a copy reads them (raw, integers exact), all in memory first. The baseline is the
 * straightforward encoding this replaced (two pattern tests a string, an array per row), timed in
 * the same run; the text must be the same. Three rounds, alternated; the last one's times.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { DATABASE_FILE } from '../src/composition/config';
import { encodeText, rowAsCopyText } from '../projections/postgresDatabase';
import { escapeCopyText } from '../src/eventStores/postgresConnection';
import type { SqlValue } from '../projections/sqlDatabase';
import { ensureDataset, insightsSettingsFromEnv } from './insights';
import { envNumber } from './harness';

/** The encoding before: every string tested for encodeText's characters, then for COPY's escapes. */
const baselineRow = (row: readonly SqlValue[]): string =>
  `${row.map((value) => (value === null ? '\\N' : escapeCopyText(typeof value === 'string' ? encodeText(value) : String(value)))).join('\t')}\n`;

const TABLES = ['audit_events', 'kpi_lead_cycles_replaced', 'read_pipeline_history', 'read_leads'];

const main = async () => {
  const { leads, seed } = insightsSettingsFromEnv(envNumber);
  const { dataset } = await ensureDataset(leads, seed);
  const db = new Database(path.join(dataset.dataDir, DATABASE_FILE), { readonly: true });
  try {
    console.log(`${'table'.padEnd(28)} ${'rows'.padStart(9)} ${'baseline ms'.padStart(12)} ${'ours ms'.padStart(8)} ${'ours / baseline'.padStart(16)}`);
    for (const table of TABLES) {
      const rows = db.prepare(`SELECT * FROM ${table}`).raw(true).safeIntegers(true).all() as SqlValue[][];
      const timed = (encode: (row: readonly SqlValue[]) => string) => {
        const started = process.hrtime.bigint();
        let chunk = '';
        for (const [index, row] of rows.entries()) {
          chunk += encode(row);
          // Sent a thousand rows at a time, as `copyTextChunks` does.
          if (index % 1000 === 999) chunk = '';
        }
        return Number(process.hrtime.bigint() - started) / 1e6;
      };
      let times = { baseline: 0, ours: 0 };
      for (let round = 0; round < 3; round++) times = { baseline: timed(baselineRow), ours: timed(rowAsCopyText) };
      const differing = rows.findIndex((row) => rowAsCopyText(row) !== baselineRow(row));
      if (differing >= 0) throw new Error(`${table}: row ${differing} gives another text than the baseline`);
      console.log(
        `${table.padEnd(28)} ${String(rows.length).padStart(9)} ${times.baseline.toFixed(0).padStart(12)} ${times.ours.toFixed(0).padStart(8)} ${(times.ours / times.baseline).toFixed(2).padStart(16)}`,
      );
    }
  } finally {
    db.close();
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

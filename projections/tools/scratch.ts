/**
 * A throwaway read database next to the live one, of the same kind, so that both can be
 * compared in one SQL statement: a temporary SQLite file attached to a connection on the live
 * file, or a temporary schema in the live PostgreSQL database.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { quoteIdentifier } from '../../src/eventStores/postgresConnection';
import { openPostgresDatabase } from '../postgresDatabase';
import type { ReadStoreConfig } from '../sqlDatabase';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { newStagingDirectory } from '../stagingDirectories';

export interface ScratchSpace {
  /** Where the rebuilt read models are written (its tables are unqualified). */
  scratchDb: SqlDatabase;
  /** Sees both: live tables as `${live}.name`, rebuilt ones as `${scratch}.name`. */
  compareDb: SqlDatabase;
  live: string;
  scratch: string;
  /** The tables of one side, in alphabetical order. */
  tables(side: 'live' | 'scratch'): Promise<string[]>;
  /** The primary key's columns of a rebuilt table, in key order (all columns when it has none). */
  keyColumns(table: string): Promise<string[]>;
  close(): Promise<void>;
}

export const openScratchSpace = (readStore: ReadStoreConfig): Promise<ScratchSpace> =>
  readStore.kind === 'postgres' ? postgresScratch(readStore) : sqliteScratch(readStore.filename);

const sqliteScratch = async (liveFile: string): Promise<ScratchSpace> => {
  // A staging directory: a copy of every read model, which the next process that stages removes
  // if this one is killed before it closes (see stagingDirectories.ts).
  const directory = newStagingDirectory();
  const scratchFile = path.join(directory, 'rebuilt.sqlite');
  const scratchDb = openSqliteDatabase(scratchFile);
  const compareDb = openSqliteDatabase(liveFile);
  await compareDb.exec(`ATTACH DATABASE '${scratchFile.replace(/'/g, "''")}' AS scratch`);
  const tablesOf = async (schema: string) =>
    (
      await compareDb.all<{ name: string }>(
        // Plain tables: a search index (an FTS5 virtual table, its shadow tables) is derived from
        // its table's rows, in pages whose layout depends on the order rows came in.
        `SELECT name FROM pragma_table_list WHERE schema = '${schema}' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`,
      )
    ).map((row) => row.name);
  return {
    scratchDb,
    compareDb,
    live: 'main',
    scratch: 'scratch',
    tables: (side) => tablesOf(side === 'live' ? 'main' : 'scratch'),
    async keyColumns(table) {
      const columns = await compareDb.all<{ name: string; pk: number }>(
        "SELECT name, pk FROM pragma_table_info(?, 'scratch') ORDER BY cid",
        [table],
      );
      const key = columns.filter((column) => column.pk > 0).sort((a, b) => a.pk - b.pk);
      return (key.length > 0 ? key : columns).map((column) => column.name);
    },
    async close() {
      await Promise.all([scratchDb.close(), compareDb.close()]);
      rmSync(directory, { recursive: true, force: true });
    },
  };
};

const postgresScratch = async (readStore: Extract<ReadStoreConfig, { kind: 'postgres' }>): Promise<ScratchSpace> => {
  const scratchSchema = `verify_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const compareDb = await openPostgresDatabase({ connectionString: readStore.connectionString, schema: readStore.schema });
  const scratchDb = await openPostgresDatabase({ connectionString: readStore.connectionString, schema: scratchSchema });
  return {
    scratchDb,
    compareDb,
    live: quoteIdentifier(readStore.schema),
    scratch: quoteIdentifier(scratchSchema),
    async tables(side) {
      const rows = await compareDb.all<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables
         WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name`,
        [side === 'live' ? readStore.schema : scratchSchema],
      );
      return rows.map((row) => row.name);
    },
    async keyColumns(table) {
      const key = await compareDb.all<{ name: string }>(
        `SELECT kcu.column_name AS name
         FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage kcu
           ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
         WHERE tc.table_schema = ? AND tc.table_name = ? AND tc.constraint_type = 'PRIMARY KEY'
         ORDER BY kcu.ordinal_position`,
        [scratchSchema, table],
      );
      if (key.length > 0) return key.map((row) => row.name);
      const columns = await compareDb.all<{ name: string }>(
        'SELECT column_name AS name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position',
        [scratchSchema, table],
      );
      return columns.map((row) => row.name);
    },
    async close() {
      await scratchDb.close();
      try {
        await compareDb.exec(`DROP SCHEMA IF EXISTS ${quoteIdentifier(scratchSchema)} CASCADE`);
      } finally {
        await compareDb.close();
      }
    },
  };
};

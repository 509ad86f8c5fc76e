/**
 * A search index on SQLite for a read-model table with a `search_text` column (text folded by
 * `searchKey`): an FTS5 `trigram` index, so a search reads the rows that hold its letters three
 * by three instead of every row's text. On the insights data set (114,000 leads) a count of the
 * leads matching a common surname went from 14 ms of scanning to about 1 ms.
 *
 * The index keeps no copy of the text (`content=` its table): it points at the rows by rowid, and
 * triggers on the table keep it in step with every write, whatever writes it (an event applied, an
 * erasure's rewrite, a bulk rebuild's copy). A row keeps its rowid through VACUUM: SQLite keeps
 * the rowids of a table that has an index (here its primary key's).
 *
 * A rewritten or deleted text's trigrams stay in the index's pages, marked deleted, until its
 * segments are merged: `purgeRemovedSearchText` rebuilds every search index from the rows as they
 * are, and an erasure runs it before the file is compacted, so nothing of an erased person is left.
 *
 * PostgreSQL has no FTS5: there each row's key and search text are kept in a narrow table beside
 * it (`<table>_search_text`), by triggers as on SQLite, and the same LIKE is served there by a
 * GIN index of trigrams (`pg_trgm`) when the extension can be had, by a scan of the narrow table
 * otherwise (see `searchTextOnPostgres`).
 */
import { containing } from './pagination';
import { keptInStepByTriggers } from './readModelChanges';
import type { SqlDatabase } from './sqlDatabase';

/**
 * How a search is matched: `scan` reads the rows' text in the order of the query's index (a
 * LIKE: what a page of many matches wants, as it stops at the page's last row), `index` asks the
 * search index for the rows that hold it (what a count, or a page of few matches, wants). The
 * index is used on SQLite for three characters or more (shorter searches hold no trigram), and on
 * PostgreSQL for any search.
 */
export type SearchBy = 'index' | 'scan';

export interface SearchIndex {
  /** Creates the index and its triggers if missing (on PostgreSQL, the narrow table of texts), filled from the rows already there. */
  setup(db: SqlDatabase): Promise<void>;
  /** Drops the index and its triggers (SQLite: before its table, which its triggers go with). */
  dropSql(dialect: SqlDatabase['dialect']): string;
  /**
   * The condition on the table for rows whose search text holds `search` (folded by `searchKey`),
   * with its parameters. Both ways give the same rows: the index is case-sensitive, so a phrase of
   * the search's trigrams is the search as a substring, which is what the LIKE (of lowercase
   * text, in lowercase) matches.
   */
  condition(search: string, by: SearchBy, dialect: SqlDatabase['dialect']): { condition: string; params: string[] };
  /** How many rows' search text holds `search`, from the index alone; undefined when it cannot tell (a short search on SQLite). */
  count(db: SqlDatabase, search: string): Promise<number | undefined>;
  /**
   * A bulk rebuild's copy of the table into `tx` (`copy`, see `Projection.copyInBulk`), with the
   * index brought in step once for all the rows it copied rather than row by row.
   */
  copyInBulk(tx: SqlDatabase, copy: () => Promise<void>, options: { inTurns: boolean }): Promise<void>;
}

export const searchIndexOn = (table: string): SearchIndex => {
  const index = `${table}_search`;
  const onPostgres = searchTextOnPostgres(table);
  // A count read from the index alone is remembered like a report (see `findLeads`): a write to
  // the table must count as a change of the index, which only its triggers write.
  keptInStepByTriggers(table, [index, onPostgres.texts]);
  SQLITE_SEARCH_INDEXES.set(index, table);
  // Qualified by `main.` when a staging database is attached (a bulk rebuild's copy), which may
  // hold a table of the same name; the table and the bodies then resolve in the triggers' schema.
  const triggerNames = ['on_insert', 'on_update', 'on_delete'].map((name) => `${index}_${name}`);
  const triggersIn = (schema: '' | 'main.') => `
    CREATE TRIGGER IF NOT EXISTS ${schema}${index}_on_insert AFTER INSERT ON ${table} BEGIN
      INSERT INTO ${index} (rowid, search_text) VALUES (new.rowid, new.search_text);
    END;
    CREATE TRIGGER IF NOT EXISTS ${schema}${index}_on_update AFTER UPDATE OF search_text ON ${table}
    WHEN old.search_text IS NOT new.search_text BEGIN
      INSERT INTO ${index} (${index}, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
      INSERT INTO ${index} (rowid, search_text) VALUES (new.rowid, new.search_text);
    END;
    CREATE TRIGGER IF NOT EXISTS ${schema}${index}_on_delete AFTER DELETE ON ${table} BEGIN
      INSERT INTO ${index} (${index}, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
    END;`;
  const triggers = triggersIn('');
  return {
    async setup(db) {
      if (db.dialect === 'postgres') return onPostgres.setup(db);
      if (await db.get(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, [index])) {
        await db.exec(triggers);
        return;
      }
      // Created beside rows already there (a read model from before the index): filled from them.
      await db.transaction(async (tx) => {
        await tx.exec(`
          CREATE VIRTUAL TABLE ${index} USING fts5(search_text, content='${table}', content_rowid='rowid', tokenize='trigram case_sensitive 1');
          ${triggers}
          ${refillSql('', index, table)}`);
      });
    },
    dropSql: (dialect) => (dialect === 'postgres' ? onPostgres.dropSql : `DROP TABLE IF EXISTS ${index};`),
    condition: (search, by, dialect) => {
      if (by === 'scan') return { condition: `search_text LIKE ? ESCAPE '\\'`, params: [containing(search)] };
      if (dialect === 'postgres') return onPostgres.condition(search);
      return indexable(search)
        ? { condition: `rowid IN (SELECT rowid FROM ${index} WHERE ${index} MATCH ?)`, params: [phrase(search)] }
        : { condition: `search_text LIKE ? ESCAPE '\\'`, params: [containing(search)] };
    },
    /**
     * On SQLite, alone on its thread (a seed, a replay), the table is copied without its
     * triggers, then the index is filled from all its rows in one statement (`refillSql`): the
     * rows go in as they were staged (SQLite's transfer optimization, which a table with an
     * insert trigger forgoes), with the indexes a seed's stage kept (see
     * `StageOptions.indexesAsStaged`), instead of one by one, each with its own insert into the
     * index. On the 114,000 leads of the insights history (a /tmp script on the seeded file,
     * twice each way) rows and index took 0.64 + 1.03 s against 2.1 and 2.7 s row by row. In
     * turns of a thread that serves requests one statement for the whole index would hold it:
     * the rows then go in a thousand at a time, the trigger filling the index as they come (see
     * `copyInTurns`). If the copy fails, its transaction takes the dropped triggers back with it.
     */
    copyInBulk: async (tx, copy, { inTurns }) => {
      if (tx.dialect === 'postgres') return onPostgres.copyInBulk(tx, copy);
      if (inTurns) return copy();
      await tx.exec(triggerNames.map((trigger) => `DROP TRIGGER IF EXISTS main.${trigger};`).join(' '));
      await copy();
      await tx.exec(`${refillSql('main.', index, table)} ${triggersIn('main.')}`);
    },
    async count(db, search) {
      if (db.dialect === 'postgres') return onPostgres.count(db, search);
      if (!indexable(search)) return undefined;
      const row = await db.get<{ total: number }>(`SELECT CAST(COUNT(*) AS INTEGER) AS total FROM ${index} WHERE ${index} MATCH ?`, [phrase(search)]);
      return Number(row?.total ?? 0);
    },
  };
};

/**
 * On PostgreSQL, `<table>_search_text` holds each row's key and search text, and nothing else, so
 * that a search reads a narrow table: counting the 3,395 leads of the insights data set (114,000
 * leads) whose text holds "garcia" took 9 to 10 ms through a GIN index on the leads' own wide
 * rows (the index only points at rows, and each of the 3,000 pages it points at is read to check
 * the match), 4 to 5 ms here (npm run bench:search). Triggers on the table keep it in step with
 * every write, whatever writes it (an event applied, an erasure's rewrite), and only when the
 * text changes; a bulk rebuild's copy fills it once instead (`copyInBulk` below); it is filled
 * from the rows when created beside a read model made before it.
 *
 * Its GIN index of trigrams (the `pg_trgm` extension) serves the LIKE of any search of three
 * characters or more. The extension is created (in `public`, where every schema's index can name
 * its operator class) if the role may: trusted since PostgreSQL 13, it needs only the CREATE
 * privilege on the database. Without it, a search scans the narrow table.
 */
const searchTextOnPostgres = (table: string) => {
  const texts = `${table}_search_text`;
  const follow = `${texts}_follow`;
  const setup = async (db: SqlDatabase): Promise<void> => {
    // The index on the table's own rows that served searches before this table did: now only a cost to every write.
    await db.exec(`DROP INDEX IF EXISTS ${table}_by_search_trigrams`);
    const created = ((await db.get<{ name: string | null }>(`SELECT to_regclass(?) AS name`, [texts]))?.name ?? null) === null;
    if (created) {
      await db.transaction(async (tx) => {
        await tx.exec(`
          CREATE TABLE IF NOT EXISTS ${texts} (id TEXT PRIMARY KEY, search_text TEXT NOT NULL);
          -- The schema the function is created in is the one it writes, whichever schema the
          -- connection that fires it has first on its path.
          CREATE OR REPLACE FUNCTION ${follow}() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
          BEGIN
            IF TG_OP = 'DELETE' THEN
              DELETE FROM ${texts} WHERE id = OLD.id;
            ELSE
              INSERT INTO ${texts} (id, search_text) VALUES (NEW.id, NEW.search_text)
                ON CONFLICT (id) DO UPDATE SET search_text = excluded.search_text;
            END IF;
            RETURN NULL;
          END $$;
          CREATE OR REPLACE TRIGGER ${follow}_on_insert AFTER INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${follow}();
          CREATE OR REPLACE TRIGGER ${follow}_on_update AFTER UPDATE OF search_text ON ${table} FOR EACH ROW
            WHEN (old.search_text IS DISTINCT FROM new.search_text) EXECUTE FUNCTION ${follow}();
          CREATE OR REPLACE TRIGGER ${follow}_on_delete AFTER DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${follow}();
          INSERT INTO ${texts} (id, search_text) SELECT id, search_text FROM ${table} ON CONFLICT (id) DO NOTHING;`);
      });
    }
    const trigrams = await trigramOperatorsOnPostgres(db);
    // Filled from a read model's rows: the planner's statistics now, not at autovacuum's next pass (if it is on).
    if (created) await db.exec(`ANALYZE ${texts}`);
    if (trigrams === undefined) return;
    // GIN puts new entries in a pending list that every search reads through, and merges it into
    // the index when it outgrows `gin_pending_list_limit` (4 MB by default) or at a VACUUM. After
    // a bulk rebuild's COPY, 190 pages were left in it, and a search matching nothing took 1.5 ms
    // instead of 0.25; "garcia" 8.7 ms instead of 3.7 (p50). With 256 kB the list stays small,
    // and 114,000 rows still go in at 4.0 s against 2.5 (without a list at all: 17 s).
    await db.exec(`CREATE INDEX IF NOT EXISTS ${texts}_by_trigrams ON ${texts} USING gin (search_text ${trigrams}) WITH (gin_pending_list_limit = 256)`);
  };
  /**
   * The table's rows copied in bulk with its insert trigger off, then their texts put in the
   * narrow table by one statement, and its GIN index built once over them (dropped meanwhile, and
   * made again as it was). Row by row, the trigger's insert and the index's upkeep made the copy of
   * the insights history's 114,000 leads take 7.2 s of server time (the 1,004,970 rows of the
   * audit index: 6.2 s). All of it in the copy's transaction: if it fails, the trigger and the
   * index are as they were.
   */
  const copyInBulk = async (tx: SqlDatabase, copy: () => Promise<void>): Promise<void> => {
    const index = await tx.get<{ sql: string | null }>('SELECT pg_get_indexdef(to_regclass(?)) AS sql', [`${texts}_by_trigrams`]);
    await tx.exec(`ALTER TABLE ${table} DISABLE TRIGGER ${follow}_on_insert; DROP INDEX IF EXISTS ${texts}_by_trigrams;`);
    await copy();
    await tx.exec(`
      INSERT INTO ${texts} (id, search_text) SELECT id, search_text FROM ${table}
        ON CONFLICT (id) DO UPDATE SET search_text = excluded.search_text;
      ALTER TABLE ${table} ENABLE TRIGGER ${follow}_on_insert;`);
    if (index?.sql) await tx.exec(index.sql);
  };
  return {
    texts,
    setup,
    copyInBulk,
    // The function goes with its triggers (CASCADE), and the table with its index.
    dropSql: `DROP FUNCTION IF EXISTS ${follow}() CASCADE; DROP TABLE IF EXISTS ${texts};`,
    condition: (search: string) => ({
      condition: `id IN (SELECT id FROM ${texts} WHERE search_text LIKE ? ESCAPE '\\')`,
      params: [containing(search)],
    }),
    async count(db: SqlDatabase, search: string): Promise<number> {
      const row = await db.get<{ total: number }>(`SELECT CAST(COUNT(*) AS INTEGER) AS total FROM ${texts} WHERE search_text LIKE ? ESCAPE '\\'`, [containing(search)]);
      return Number(row?.total ?? 0);
    },
  };
};

/** The `pg_trgm` operator class for GIN, schema-qualified, after creating the extension if the role may; undefined when it cannot be had. */
const trigramOperatorsOnPostgres = async (db: SqlDatabase): Promise<string | undefined> => {
  const schemaOfTrigrams = async () =>
    (
      await db.get<{ schema: string }>(
        "SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'",
      )
    )?.schema;
  let schema = await schemaOfTrigrams();
  if (schema === undefined) {
    try {
      // In a transaction of its own (a savepoint inside the caller's): a refusal leaves the caller's intact.
      await db.transaction((tx) => tx.exec('CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public'));
    } catch {
      // Not allowed, or created meanwhile by another instance: whichever, it is looked up again.
    }
    schema = await schemaOfTrigrams();
    if (schema === undefined) return undefined;
  }
  return `"${schema.replace(/"/g, '""')}".gin_trgm_ops`;
};

const indexable = (search: string): boolean => [...search].length >= 3;

/** The search as one FTS5 phrase (its text, quotes doubled): the text's trigrams one after the other. */
const phrase = (search: string): string => `"${search.replace(/"/g, '""')}"`;

/** The SQLite search indexes `searchIndexOn` made, each with its table: what an erasure's purge refills. */
const SQLITE_SEARCH_INDEXES = new Map<string, string>();

/**
 * A search index emptied ('delete-all') and filled again from every row of its table, read from
 * the table itself in rowid order (`NOT INDEXED`), the order FTS5 takes fastest. FTS5's own
 * 'rebuild' does the same, but reads the rows the way the planner chooses: through the leads'
 * covering index of capture times, out of rowid order, 3.7 to 4.2 s for the 114,000 leads of the
 * insights history where this took 1.0 to 2.4 s (a /tmp script on the seeded file). Run it in one
 * transaction: on its own, 'delete-all' commits an empty index. `schema` qualifies both names.
 */
const refillSql = (schema: '' | 'main.', index: string, table: string): string => `
  INSERT INTO ${schema}${index} (${index}) VALUES ('delete-all');
  INSERT INTO ${schema}${index} (rowid, search_text) SELECT rowid, search_text FROM ${schema}${table} NOT INDEXED ORDER BY rowid;`;

/**
 * Rebuilds every search index of a SQLite database (those `searchIndexOn` made) from its table's
 * rows as they are now (nothing elsewhere): the trigrams of texts rewritten or deleted since are
 * then gone from the index, not only marked deleted. The pages they were in are free pages until
 * the file is compacted (VACUUM).
 */
export const purgeRemovedSearchText = async (db: SqlDatabase): Promise<void> => {
  if (db.dialect !== 'sqlite') return;
  for (const [index, table] of SQLITE_SEARCH_INDEXES) {
    // Only those this database has (a read model's setup made them).
    if ((await db.get("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ?", [index])) === undefined) continue;
    await db.transaction((tx) => tx.exec(refillSql('', index, table)));
  }
};

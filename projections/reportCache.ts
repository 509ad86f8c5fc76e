/**
 * Reports answered again from memory while nothing they read has changed.
 *
 * A KPI section or a pipeline report over a long history costs tens of milliseconds (its SQL,
 * then its assembly), and dashboards ask the same ones over and over. Each report computed here
 * remembers which read-model tables its statements named and the change count when it started
 * (readModelChanges.ts); it is answered again only while none of those tables has had a commit
 * since. So an answer is never older than a fresh computation would be: a report asked after a
 * mutation was answered (which waits for the read models) sees it, as before.
 *
 * For a read database whose writers this process sees: a SQLite file (its one serving process),
 * or a PostgreSQL schema while this instance leads (`changesSeenWhileLeading`); a follower
 * computes every report.
 *
 * What `compute` returns is shared by every answer from memory: callers must not change it.
 */
import type { ReadOptions, SqlDatabase, SqlValue } from './sqlDatabase';
import type { ChangeCount } from './readModelChanges';

export interface ReportCache {
  /** The read database reports are computed from (on SQLite, the report reader's thread). */
  readonly db: SqlDatabase;
  /**
   * The report `name` for `request` (anything JSON can write: it is the key with the name, and
   * must not be changed once asked): remembered, or computed by `compute` from the read
   * database it is handed.
   */
  report<T>(name: string, request: unknown, compute: (db: SqlDatabase) => Promise<T>, options?: ReportOptions): Promise<T>;
  /**
   * A report that lists the items of its parts one after the other (a KPI section grouped by
   * month is the sections of each month of its period), each part remembered as the report
   * `name` for its own request. A request that moves (a dashboard's period up to now) then
   * computes only the parts it changed. When at most one part must be computed, it is computed
   * alone (`compute.part`), and kept only from its second computation; when more must, the whole
   * once (`compute.whole`: one statement where the parts would run one each) and cut by
   * `compute.partOf` (an item's part, by index), each part kept. Answers each part's items, in
   * the order of `parts`.
   */
  reportInParts<T>(
    name: string,
    parts: readonly unknown[],
    compute: ReportParts<T>,
  ): Promise<T[][]>;
  /**
   * Whether each report, asked as before, would be answered with the very value it was then
   * (remembered, and nothing it read changed since); if so they count as answered from memory.
   * Nothing is computed. What lets a whole GraphQL answer built from them be sent again
   * (src/graphql/reportAnswers.ts).
   */
  answerAgain(asked: readonly AskedReport[]): boolean;
  /** As `answerAgain`, without counting them as answered. */
  areCurrent(asked: readonly AskedReport[]): boolean;
  /** Reports answered from memory and computed since the start. */
  stats(): { hits: number; misses: number; entries: number; rows: number };
}

export interface ReportOptions {
  /**
   * `askedAgain`: kept only once its request has been asked before (among the last
   * `REQUESTS_SEEN` such requests), for reports of which most requests are asked once: a page
   * after a cursor that a client pages to, a search typed once. A page a dashboard asks over and
   * over is kept from its second ask on, and after each change from its next computation. The
   * default, `always`, keeps every report computed.
   */
  keep?: 'always' | 'askedAgain';
}

/** A report as `report` answered it: its name, its request, and the value it gave. */
export interface AskedReport {
  name: string;
  request: unknown;
  value: unknown;
}

/** How a report in parts is computed: a part alone, or the whole, and the part of each of the whole's items. */
export interface ReportParts<T> {
  part(db: SqlDatabase, index: number): Promise<T[]>;
  whole(db: SqlDatabase): Promise<T[]>;
  partOf(item: T): number;
}

/** The whole's items, each in its part. */
const cutIntoParts = <T>(items: readonly T[], count: number, partOf: (item: T) => number): T[][] => {
  const parts = Array.from({ length: count }, (): T[] => []);
  for (const item of items) {
    const part = parts[partOf(item)];
    if (part === undefined) throw new Error(`A report's item falls in none of its ${count} parts`);
    part.push(item);
  }
  return parts;
};

/**
 * The read database's tables, and the tables each statement seen so far names. A report computed
 * again runs the same statements (its dates and cuts are parameters), so each statement is read
 * once for the names it holds, not at every computation: on PostgreSQL, the KPIs of every section
 * computed at each ask spent about 5 % of the API's main thread testing a pattern per table
 * against their text.
 */
interface TableNames {
  /** The names made of letters, digits and _ (every read model's): a statement names one when it holds it as a word. */
  words: ReadonlySet<string>;
  /** Any other name, with a pattern that finds it as a word. */
  others: ReadonlyArray<{ name: string; named: RegExp }>;
  byStatement: Map<string, readonly string[]>;
}

/** A statement's words, as SQL reads names: runs of letters, digits and _. */
const WORD = /[a-z0-9_]+/g;
const PLAIN_NAME = /^[a-z0-9_]+$/;
/** Enough for every statement the reports run; a statement made anew at each ask (a list of values in its text) only fills it. */
const STATEMENTS_REMEMBERED = 500;

const tableNamesOf = (names: readonly string[]): TableNames => ({
  words: new Set(names.filter((name) => PLAIN_NAME.test(name))),
  others: names
    .filter((name) => !PLAIN_NAME.test(name))
    .map((name) => ({ name, named: new RegExp(`(^|[^a-z0-9_])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^a-z0-9_])`) })),
  byStatement: new Map(),
});

/** The tables whose names appear in `sql` as words: a CTE or column of the same name only costs a miss. */
const tablesNamedIn = (sql: string, names: TableNames): readonly string[] => {
  const known = names.byStatement.get(sql);
  if (known !== undefined) return known;
  const text = sql.toLowerCase();
  const tables = new Set<string>();
  for (const word of text.match(WORD) ?? []) if (names.words.has(word)) tables.add(word);
  for (const { name, named } of names.others) if (named.test(text)) tables.add(name);
  const named = [...tables];
  if (names.byStatement.size >= STATEMENTS_REMEMBERED) names.byStatement.clear();
  names.byStatement.set(sql, named);
  return named;
};

/** Every report computed, nothing remembered. */
export const uncachedReports = (db: SqlDatabase): ReportCache => {
  let misses = 0;
  return {
    db,
    report: (_name, _request, compute) => {
      misses += 1;
      return compute(db);
    },
    reportInParts: async <T>(_name: string, parts: readonly unknown[], compute: ReportParts<T>) => {
      misses += 1;
      return cutIntoParts(await compute.whole(db), parts.length, compute.partOf);
    },
    answerAgain: () => false,
    areCurrent: () => false,
    stats: () => ({ hits: 0, misses, entries: 0, rows: 0 }),
  };
};

interface Entry {
  value: unknown;
  /** The rows its statements returned, plus one: what it holds in memory, roughly. */
  weight: number;
  /** The tables its statements named. */
  tables: readonly string[];
  /** The change count when its computation started. */
  since: number;
}

/**
 * Reports are kept while the rows their statements returned add up to at most this many, the least
 * recently asked dropped first; a report of more than a quarter of it is computed every time. A
 * report holds about 200 to 400 bytes per row it read: the loss-reason section of two years by month
 * read 991 rows and holds about 190 KiB before presentation, every section together about 1,700
 * rows. So some ten such dashboards, a few MiB, well inside the resident memory issue 11 allows
 * the API (300 MiB at a million events), whatever cuts are asked for.
 */
export const REPORT_CACHE_ROWS = 20_000;

/** How many parts computed alone once (`reportInParts`) are remembered as seen, to be kept when computed again. */
const PARTS_SEEN = 1_000;

/** How many requests of reports kept when asked again (`keep: 'askedAgain'`) are remembered as asked. */
export const REQUESTS_SEEN = 1_000;

export const cachingReports = (
  db: SqlDatabase,
  changes: ChangeCount,
  options: { maxRows?: number } = {},
): ReportCache => {
  const maxRows = options.maxRows ?? REPORT_CACHE_ROWS;
  const entries = new Map<string, Entry>();
  let heldRows = 0;
  const forget = (key: string) => {
    const entry = entries.get(key);
    if (entry === undefined) return;
    entries.delete(key);
    heldRows -= entry.weight;
  };
  /** Parts computed alone once and not kept (`reportInParts`), the oldest forgotten first. */
  const partsSeen = new Set<string>();
  /** Computations under way, with the count they started at: a second ask shares one while nothing was committed since. */
  const underWay = new Map<string, { since: number; value: Promise<unknown> }>();
  let hits = 0;
  let misses = 0;
  let tableNames: (TableNames & { since: number }) | undefined;

  /** The database's tables, read again after any change that may have been DDL. */
  const namesOfTables = async () => {
    const since = changes.now();
    if (tableNames !== undefined && changes.unchangedSince([], tableNames.since)) return tableNames;
    const rows = await db.all<{ name: string }>(
      db.dialect === 'postgres'
        ? 'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()'
        : "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')",
    );
    tableNames = { ...tableNamesOf(rows.map((row) => row.name.toLowerCase())), since };
    return tableNames;
  };

  /** `since`: the change count taken before the computation starts. */
  const computeRecorded = async <T>(compute: (db: SqlDatabase) => Promise<T>, since: number): Promise<Entry & { value: T }> => {
    const statements: string[] = [];
    let rows = 0;
    const recording: SqlDatabase = {
      dialect: db.dialect,
      all: async <R>(sql: string, params?: readonly SqlValue[], options?: ReadOptions) => {
        statements.push(sql);
        const read = await db.all<R>(sql, params, options);
        rows += read.length;
        return read;
      },
      get: async <R>(sql: string, params?: readonly SqlValue[]) => {
        statements.push(sql);
        rows += 1;
        return db.get<R>(sql, params);
      },
      run: () => Promise.reject(new Error('A report only reads')),
      write: () => Promise.reject(new Error('A report only reads')),
      exec: () => Promise.reject(new Error('A report only reads')),
      insertRows: () => Promise.reject(new Error('A report only reads')),
      writeRows: () => Promise.reject(new Error('A report only reads')),
      writeNumberedRows: () => Promise.reject(new Error('A report only reads')),
      updateRows: () => Promise.reject(new Error('A report only reads')),
      transaction: () => Promise.reject(new Error('A report only reads')),
      close: () => Promise.reject(new Error('A report does not close the database')),
    };
    const value = await compute(recording);
    const names = await namesOfTables();
    const tables = new Set<string>();
    for (const sql of statements) for (const table of tablesNamedIn(sql, names)) tables.add(table);
    return { value, tables: [...tables], since, weight: rows + 1 };
  };

  /**
   * Each request object's keys, by report name, written once: a report in parts is asked for the
   * same parts over and over, and a key made once is hashed once by the maps it goes through.
   */
  const requestKeys = new WeakMap<object, Map<string, string>>();
  const keyOf = (name: string, request: unknown) => {
    if (typeof request !== 'object' || request === null) return `${name} ${JSON.stringify(request)}`;
    let keys = requestKeys.get(request);
    if (keys === undefined) {
      keys = new Map();
      requestKeys.set(request, keys);
    }
    let key = keys.get(name);
    if (key === undefined) {
      key = `${name} ${JSON.stringify(request)}`;
      keys.set(name, key);
    }
    return key;
  };
  const areCurrent = (asked: readonly AskedReport[]): boolean => {
    if (changes.seesEveryWrite?.() === false) return false;
    for (const { name, request, value } of asked) {
      const known = entries.get(keyOf(name, request));
      if (known === undefined || known.value !== value || !changes.unchangedSince(known.tables, known.since)) return false;
    }
    return true;
  };

  const remember = (key: string, entry: Entry) => {
    forget(key);
    if (entry.weight > maxRows / 4) return;
    entries.set(key, entry);
    heldRows += entry.weight;
    while (heldRows > maxRows) forget(entries.keys().next().value!);
  };

  /** The entry of `key` if it is still what a computation would give now, marked as the most recently asked. */
  const current = (key: string): Entry | undefined => {
    const known = entries.get(key);
    if (known === undefined || !changes.unchangedSince(known.tables, known.since)) return undefined;
    entries.delete(key);
    entries.set(key, known);
    return known;
  };

  /**
   * `compute`'s entry, shared with an ask of `key` already computing while nothing was committed
   * since it started; `onEntry` takes a new one (not a shared one) before it is handed out.
   */
  const computeShared = <T>(key: string, compute: (db: SqlDatabase) => Promise<T>, onEntry: (entry: Entry & { value: T }) => void): Promise<T> => {
    const shared = underWay.get(key);
    if (shared !== undefined && changes.now() === shared.since) {
      hits += 1;
      return shared.value as Promise<T>;
    }
    misses += 1;
    const since = changes.now();
    const computing = computeRecorded(compute, since);
    const value = computing.then((entry) => {
      onEntry(entry);
      return entry.value;
    });
    underWay.set(key, { since, value });
    // Its failure reaches every asker through `value`.
    return value.finally(() => {
      if (underWay.get(key)?.value === value) underWay.delete(key);
    });
  };

  /** The report of `key`: remembered and current, or computed and handed to `keep` (a new computation, not a shared one). */
  const answer = <T>(key: string, compute: (db: SqlDatabase) => Promise<T>, keep: (entry: Entry & { value: T }) => void): Promise<T> | T => {
    const known = current(key);
    if (known !== undefined) {
      hits += 1;
      return known.value as T;
    }
    forget(key);
    return computeShared(key, compute, keep);
  };

  /** Kept from its second computation: a part computed alone is mostly the end of a period up to now, asked once. */
  const keepWhenSeenBefore = (key: string) => (entry: Entry) => {
    if (partsSeen.delete(key)) return remember(key, entry);
    partsSeen.add(key);
    if (partsSeen.size > PARTS_SEEN) partsSeen.delete(partsSeen.values().next().value!);
  };

  /** The requests of reports kept when asked again, the most recently asked last. */
  const requestsSeen = new Set<string>();
  /** Whether `key` was asked before; it is now, as the most recent. */
  const askedBefore = (key: string): boolean => {
    const seen = requestsSeen.delete(key);
    requestsSeen.add(key);
    if (requestsSeen.size > REQUESTS_SEEN) requestsSeen.delete(requestsSeen.values().next().value!);
    return seen;
  };

  const report = async <T>(name: string, request: unknown, compute: (db: SqlDatabase) => Promise<T>, options: ReportOptions = {}): Promise<T> => {
    if (changes.seesEveryWrite?.() === false) {
      misses += 1;
      return compute(db);
    }
    const key = keyOf(name, request);
    if (options.keep === 'askedAgain' && !askedBefore(key)) return answer(key, compute, () => undefined);
    return answer(key, compute, (entry) => remember(key, entry));
  };

  return {
    db,
    report,
    reportInParts: async <T>(name: string, parts: readonly unknown[], compute: ReportParts<T>): Promise<T[][]> => {
      if (changes.seesEveryWrite?.() === false) {
        misses += 1;
        return cutIntoParts(await compute.whole(db), parts.length, compute.partOf);
      }
      const keys = parts.map((part) => keyOf(name, part));
      const known = keys.map((key) => entries.get(key));
      const stale = known.filter((entry) => entry === undefined || !changes.unchangedSince(entry.tables, entry.since)).length;
      if (stale <= 1) {
        return Promise.all(parts.map((_part, index) => answer(keys[index]!, (db) => compute.part(db, index), keepWhenSeenBefore(keys[index]!))));
      }
      // Cut as it is computed, so that every asker sharing the computation gets the same parts.
      const wholeKey = `${name} in parts ${JSON.stringify(parts)}`;
      const cut = async (db: SqlDatabase) => cutIntoParts(await compute.whole(db), parts.length, compute.partOf);
      return computeShared(wholeKey, cut, (entry) => {
        // Each part as if computed alone, from the same statements at the same count; its weight, its share of the rows.
        const items = Math.max(1, entry.value.reduce((sum, part) => sum + part.length, 0));
        entry.value.forEach((value, index) =>
          remember(keys[index]!, { value, tables: entry.tables, since: entry.since, weight: 1 + Math.ceil(((entry.weight - 1) * value.length) / items) }),
        );
      });
    },
    areCurrent,
    answerAgain: (asked) => {
      if (!areCurrent(asked)) return false;
      for (const { name, request } of asked) {
        const key = keyOf(name, request);
        const known = entries.get(key)!;
        entries.delete(key);
        entries.set(key, known);
      }
      hits += asked.length;
      return true;
    },
    stats: () => ({ hits, misses, entries: entries.size, rows: heldRows }),
  };
};

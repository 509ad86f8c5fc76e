/**
 * Checks the live read models against a rebuild: every projection is replayed into a scratch
 * database exactly as far as its live checkpoint, then each table is compared with its live
 * twin, row by row (SQL EXCEPT both ways), so that a row edited, added or lost by anything but
 * the projections shows up by its key. If the live models move meanwhile (a server is running),
 * the rebuild catches up and the comparison starts again.
 */
import type { EventStore, GlobalPosition } from '../../src/core/eventStore';
import type { Projection } from '../projection';
import { ProjectionRunner, type StageAlongside } from '../runner';
import type { ScratchSpace } from './scratch';
import { countEvents, countingStore, storeUpTo } from './storeViews';

export interface VerifyOptions {
  store: EventStore;
  scratch: ScratchSpace;
  projections: Projection[];
  /** Keys listed per kind of difference and table; the counts are always complete. */
  maxKeys?: number;
  maxAttempts?: number;
  onProgress?(progress: { done: number; total: number }): void;
  /** Where the rebuild is staged too (see `ProjectionRunnerOptions`): the second core. */
  stagingThread?: StageAlongside;
  stagingThreadFromEvents?: number;
  /** Where the runner says what went wrong and what it does instead (a staging thread that failed); console by default. */
  logger?: Pick<Console, 'error'>;
}

export interface TableComparison {
  table: string;
  liveRows: number;
  rebuiltRows: number;
  /** Rebuilt rows with no live row of the same key. */
  missing: KeyList;
  /** Live rows the rebuild does not have. */
  unexpected: KeyList;
  /** Keys present on both sides with different values. */
  differing: KeyList;
  /** Set when the table cannot be compared at all (absent live, or of another shape). */
  problem?: string;
}

export interface KeyList {
  count: number;
  keys: string[];
}

export interface VerifyReport {
  ok: boolean;
  /** Each projection's live checkpoint, which the rebuild reached too. */
  checkpoints: Record<string, GlobalPosition | null>;
  /** Projections whose live state cannot be compared (never run, or of another version). */
  problems: string[];
  tables: TableComparison[];
}

interface LiveCheckpoint {
  name: string;
  version: number;
  position: GlobalPosition | null;
}

const BOOKKEEPING_TABLES = new Set(['projection_checkpoints']);

export const verifyReadModels = async (options: VerifyOptions): Promise<VerifyReport> => {
  const { scratch, maxAttempts = 3 } = options;
  for (let attempt = 1; ; attempt++) {
    const before = await liveCheckpoints(options);
    const problems = checkpointProblems(options.projections, before);
    await rebuildUpTo(options, before);
    const tables = await compareTables(scratch, options.maxKeys ?? 10);
    const after = await liveCheckpoints(options);
    if (sameCheckpoints(before, after) || attempt >= maxAttempts) {
      const moving = sameCheckpoints(before, after) ? [] : ['the live read models kept moving while they were compared'];
      return {
        ok: problems.length === 0 && moving.length === 0 && tables.every(isIdentical),
        checkpoints: Object.fromEntries(before.map((checkpoint) => [checkpoint.name, checkpoint.position])),
        problems: [...problems, ...moving],
        tables,
      };
    }
  }
};

const isIdentical = (table: TableComparison) =>
  !table.problem && table.missing.count === 0 && table.unexpected.count === 0 && table.differing.count === 0;

const liveCheckpoints = async ({ scratch, projections }: VerifyOptions): Promise<LiveCheckpoint[]> => {
  if (!(await scratch.tables('live')).includes('projection_checkpoints')) return [];
  const rows = await scratch.compareDb.all<LiveCheckpoint>(
    `SELECT name, version, position FROM ${scratch.live}.projection_checkpoints ORDER BY name`,
  );
  const names = new Set(projections.map((projection) => projection.name));
  return rows.filter((row) => names.has(row.name));
};

const checkpointProblems = (projections: readonly Projection[], live: readonly LiveCheckpoint[]): string[] =>
  projections.flatMap((projection) => {
    const checkpoint = live.find((row) => row.name === projection.name);
    if (!checkpoint) return [`projection ${projection.name} has never run on the live read database`];
    if (checkpoint.version !== projection.version) {
      return [
        `projection ${projection.name} is live at version ${checkpoint.version}, the code's is ${projection.version}: the next start rebuilds it`,
      ];
    }
    return [];
  });

/**
 * Projections are rebuilt in groups that share a live checkpoint (normally one group). A
 * second call resumes from the scratch checkpoints, so a retry only applies what is new.
 */
const rebuildUpTo = async (options: VerifyOptions, live: readonly LiveCheckpoint[]): Promise<void> => {
  const thread = options.stagingThread;
  const groups = new Map<GlobalPosition | null, Projection[]>();
  for (const projection of options.projections) {
    const checkpoint = live.find((row) => row.name === projection.name && row.version === projection.version);
    if (!checkpoint) continue;
    groups.set(checkpoint.position, [...(groups.get(checkpoint.position) ?? []), projection]);
  }
  for (const [position, projections] of groups) {
    const frozen = storeUpTo(options.store, position ?? undefined);
    const total = options.onProgress ? await countEvents(frozen) : 0;
    let done = 0;
    const runner = new ProjectionRunner({
      // At most the log: a staging thread that fails leaves its part to this thread, which reads the log again.
      store: countingStore(frozen, (events) => options.onProgress?.({ done: Math.min(total, (done += events)), total })),
      db: options.scratch.scratchDb,
      projections,
      // A command alone on its thread: the scratch rebuild's copy goes one statement per table.
      sharesThreadWithRequests: false,
      logger: options.logger,
      // The thread stages the log as far as this rebuild reads it (a group with no checkpoint reads nothing).
      stagingThread: thread && position !== null ? (parts, staging) => thread(parts, { ...staging, upTo: position }) : undefined,
      stagingThreadFromEvents: options.stagingThreadFromEvents,
    });
    await runner.start();
    try {
      await runner.whenCaughtUp();
    } finally {
      await runner.stop();
    }
  }
};

const compareTables = async (scratch: ScratchSpace, maxKeys: number): Promise<TableComparison[]> => {
  const liveTables = new Set(await scratch.tables('live'));
  const rebuilt = (await scratch.tables('scratch')).filter((table) => !BOOKKEEPING_TABLES.has(table));
  const comparisons: TableComparison[] = [];
  for (const table of rebuilt) {
    const rebuiltRows = await countRows(scratch, scratch.scratch, table);
    const none = { count: 0, keys: [] };
    if (!liveTables.has(table)) {
      comparisons.push({ table, liveRows: 0, rebuiltRows, missing: none, unexpected: none, differing: none, problem: 'absent from the live database' });
      continue;
    }
    const liveRows = await countRows(scratch, scratch.live, table);
    try {
      comparisons.push({ table, liveRows, rebuiltRows, ...(await differences(scratch, table, maxKeys)) });
    } catch (error) {
      const problem = `cannot be compared (${error instanceof Error ? error.message : String(error)})`;
      comparisons.push({ table, liveRows, rebuiltRows, missing: none, unexpected: none, differing: none, problem });
    }
  }
  return comparisons;
};

const countRows = async (scratch: ScratchSpace, schema: string, table: string): Promise<number> =>
  Number((await scratch.compareDb.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${schema}.${quote(table)}`))?.n ?? 0);

/** Rows of one side that the other lacks, classified by key: a changed row is on both lists. */
const differences = async (scratch: ScratchSpace, table: string, maxKeys: number) => {
  const key = await scratch.keyColumns(table);
  const keyList = key.map(quote).join(', ');
  const onlyIn = async (side: string, other: string) => {
    const rows = await scratch.compareDb.all<Record<string, unknown>>(
      `SELECT ${keyList} FROM (SELECT * FROM ${side}.${quote(table)} EXCEPT SELECT * FROM ${other}.${quote(table)}) d ORDER BY ${keyList}`,
    );
    return new Map(rows.map((row) => [describeKey(key, row), row]));
  };
  const liveOnly = await onlyIn(scratch.live, scratch.scratch);
  const rebuiltOnly = await onlyIn(scratch.scratch, scratch.live);
  const listed = (keys: string[]): KeyList => ({ count: keys.length, keys: keys.slice(0, maxKeys) });
  return {
    differing: listed([...liveOnly.keys()].filter((k) => rebuiltOnly.has(k))),
    unexpected: listed([...liveOnly.keys()].filter((k) => !rebuiltOnly.has(k))),
    missing: listed([...rebuiltOnly.keys()].filter((k) => !liveOnly.has(k))),
  };
};

const describeKey = (columns: readonly string[], row: Record<string, unknown>): string =>
  columns.length === 1 ? String(row[columns[0]!]) : columns.map((column) => `${column}=${String(row[column])}`).join(', ');

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

const sameCheckpoints = (a: readonly LiveCheckpoint[], b: readonly LiveCheckpoint[]): boolean =>
  a.length === b.length && a.every((row, index) => row.name === b[index]!.name && row.position === b[index]!.position);

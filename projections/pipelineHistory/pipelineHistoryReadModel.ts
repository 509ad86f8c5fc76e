/**
 * The pipeline on two time axes. `read_pipeline_history` keeps, per opportunity, every version
 * of what the pipeline report depends on (status, stage, probability, amount, owner, account),
 * each with the event that started it (its occurredAt and recordedAt) and the event that ended
 * it (same two times; null while current). Versions are only cut when one of those fields
 * changes: quotes and activities cost nothing here.
 *
 * Why an interval lookup is exact: a stream's occurredAt and recordedAt never go backwards
 * (`src/core/eventTimes.ts`), so the events with occurredAt <= A and recordedAt <= K are a
 * prefix of the stream, and the opportunity's state at (A, K) is the version whose start passes
 * both tests while its end does not pass both. Merging versions whose fields are equal keeps
 * this true, since a merged version starts where the first started and ends where the last ended.
 *
 * Why it is fast: finding the versions that contain a point in time is a "stabbing" query, which
 * one B-tree on either end scans badly (half the table for a date in the middle). Each ended
 * version is therefore filed, on each axis, under a level and a block (see `bucketOf`): the
 * query probes two blocks per level, so it reads little more than the versions it returns.
 * Versions still current are found by their start alone. Sums are done in SQL on the integer
 * and fractional parts of the amounts, the integer part summed as its quotient and remainder by
 * 10^9 so that no sum can overflow 64 bits (SQLite would fail the query rather than round, even
 * for ten amounts near the 10^18 the Decimal scalar allows; see `unitsOfSums`), grouped by stage,
 * currency and probability, then turned into the report by the live pipeline's own code.
 */
import { utcInstant } from '../../src/core/eventTimes';
import type { RecordedEvent } from '../../src/core/eventStore';
import type { Money } from '../../src/domain/values';
import type { OpportunityEvent, OpportunityStatus } from '../../src/domain/opportunities/events';
import {
  OPPORTUNITY_EVENT_TYPES,
  evolveOpportunity,
  initialOpportunityState,
  type OpportunityState,
} from '../../src/domain/opportunities/opportunity';
import { amountParts, fromUnits, unitsOfSums, WHOLE_SPLIT } from '../../src/domain/opportunities/money';
import type { Pipeline } from '../../src/domain/opportunities/pipeline';
import { PLAIN_YEAR_INSTANT } from '../../src/domain/insights/definitions';
import { summarisePipeline, type PipelineRow, type PipelineSummary } from '../../src/domain/opportunities/pipelineReport';
import type { InMemoryFold, Projection } from '../projection';
import { isMissingTable, type SqlDatabase, type SqlValue } from '../sqlDatabase';
import { CREATE_PIPELINE_CHANGES, DROP_PIPELINE_CHANGES, movePipelineChanges, openPipelineAt, rebuildPipelineChanges } from './pipelineChanges';

/** What the pipeline report reads of an opportunity. */
export interface PipelineEntry {
  status: OpportunityStatus;
  stage: string;
  probability: number;
  amount?: Money;
  ownerId?: string;
  accountId: string;
}

/** What the report reads and cuts by: every index carries it, so that a query never visits the table. */
const REPORTED = 'stage, currency, probability, amount_whole, amount_nanos, owner_id, account_id';

const CREATE_TABLE = `
  CREATE TABLE IF NOT EXISTS read_pipeline_history (
    opportunity_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    probability INTEGER NOT NULL,
    amount TEXT,
    currency TEXT,
    amount_whole BIGINT,
    amount_nanos BIGINT,
    owner_id TEXT,
    account_id TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    known_from TEXT NOT NULL,
    valid_to TEXT,
    known_to TEXT,
    valid_level INTEGER,
    valid_block INTEGER,
    known_level INTEGER,
    known_block INTEGER,
    PRIMARY KEY (opportunity_id, seq)
  );
  CREATE INDEX IF NOT EXISTS read_pipeline_history_current ON read_pipeline_history
    (status, valid_to, valid_from, known_from, ${REPORTED});
  CREATE INDEX IF NOT EXISTS read_pipeline_history_valid ON read_pipeline_history
    (status, valid_level, valid_block, valid_from, valid_to, known_from, ${REPORTED});
  CREATE INDEX IF NOT EXISTS read_pipeline_history_known ON read_pipeline_history
    (status, known_level, known_block, known_from, known_to, valid_from, valid_to, ${REPORTED});
  CREATE INDEX IF NOT EXISTS read_pipeline_history_started ON read_pipeline_history
    (status, valid_from, stage, currency, probability, amount_whole, amount_nanos);
  ${CREATE_PIPELINE_CHANGES}`;

type RecordedOpportunityEvent = OpportunityEvent & Pick<RecordedEvent, 'revision' | 'metadata'>;

export const pipelineHistoryProjection: Projection = {
  name: 'pipeline-history',
  // 3: the open pipeline's changes by month and day (pipelineChanges.ts).
  version: 3,
  rebuildsInBulk: true,
  rebuildWeight: 4.6,
  readsPersonalData: false,
  // Rows are found by opportunity and seq (the key); these indexes serve the reports.
  deferredIndexes: ['read_pipeline_history_current', 'read_pipeline_history_valid', 'read_pipeline_history_known', 'read_pipeline_history_started'],
  canHandle: OPPORTUNITY_EVENT_TYPES,
  setup: (db) => db.exec(CREATE_TABLE),
  reset: (db) => db.exec(`DROP TABLE IF EXISTS read_pipeline_history;\n${DROP_PIPELINE_CHANGES}`),
  foldInMemory: () => foldPipelineHistoryInMemory(),
  async apply(tx, recorded) {
    const event = recorded as RecordedOpportunityEvent;
    const id = event.data.opportunityId;
    const latest = await tx.get<Record<string, SqlValue>>(
      'SELECT * FROM read_pipeline_history WHERE opportunity_id = ? ORDER BY seq DESC LIMIT 1',
      [id],
    );
    // Versions are keyed by the revision that started them: one at or after this event means it was applied.
    if (latest !== undefined && Number(latest.seq) >= event.revision) return;
    const current = latest && entryOf(latest);
    const next = evolvePipelineEntry(current, event);
    if (next === undefined) throw new Error(`Opportunity ${id} has a ${event.type} but was never opened`);
    if (current !== undefined && sameEntry(current, next)) return;

    const occurredAt = utcInstant(event.metadata.occurredAt);
    const recordedAt = utcInstant(event.metadata.recordedAt);
    if (latest !== undefined) {
      const valid = bucketOf(latest.valid_from as string, occurredAt);
      const known = bucketOf(latest.known_from as string, recordedAt);
      await tx.run(
        `UPDATE read_pipeline_history SET valid_to = ?, known_to = ?, valid_level = ?, valid_block = ?, known_level = ?,
           known_block = ? WHERE opportunity_id = ? AND seq = ?`,
        [occurredAt, recordedAt, valid.level, valid.block, known.level, known.block, id, latest.seq!],
      );
    }
    await tx.run(INSERT_VERSION, rowOf(id, { seq: event.revision, entry: next, validFrom: occurredAt, knownFrom: recordedAt }));
    await movePipelineChanges(tx, occurredAt, current, next);
  },
};

/** Opportunities whose current version a bulk rebuild holds in memory, the least recently changed written out past it. */
const MAX_OPPORTUNITIES_IN_MEMORY = 50_000;

const COLUMNS = [
  'opportunity_id', 'seq', 'status', 'stage', 'probability', 'amount', 'currency', 'amount_whole', 'amount_nanos', 'owner_id',
  'account_id', 'valid_from', 'known_from', 'valid_to', 'known_to', 'valid_level', 'valid_block', 'known_level', 'known_block',
] as const;

const INSERT_VERSION = `INSERT INTO read_pipeline_history (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`;

/** A version as `apply` writes it, its end (and buckets) set once a later version starts. */
interface HeldVersion {
  seq: number;
  entry: PipelineEntry;
  validFrom: string;
  knownFrom: string;
}

/** A version's row; without `end`, still current. */
const rowOf = (id: string, version: HeldVersion, end?: { validTo: string; knownTo: string }): SqlValue[] => {
  const { entry } = version;
  // "18500.25" as 18500 and 25000000 (hundred-millionths): integers that SQL sums exactly.
  const parts = entry.amount && amountParts(entry.amount.amount);
  const valid = end && bucketOf(version.validFrom, end.validTo);
  const known = end && bucketOf(version.knownFrom, end.knownTo);
  return [id, version.seq, entry.status, entry.stage, entry.probability, entry.amount?.amount ?? null, entry.amount?.currency ?? null,
    parts?.whole ?? null, parts?.fraction ?? null, entry.ownerId ?? null, entry.accountId, version.validFrom, version.knownFrom,
    end?.validTo ?? null, end?.knownTo ?? null, valid?.level ?? null, valid?.block ?? null, known?.level ?? null, known?.block ?? null];
};

/**
 * The pipeline history of a bulk rebuild, folded in memory: each opportunity's current version is
 * held, and a version is written once, whole, when the next one ends it (or at the end), instead
 * of being read, inserted and then updated with its end at every change. The staging database
 * starts empty, so an opportunity never held has no row yet; one written out to keep memory
 * bounded takes its later events through `apply`, on its rows, as in a replay.
 */
export const foldPipelineHistoryInMemory = (maxHeld = MAX_OPPORTUNITIES_IN_MEMORY): InMemoryFold => {
  // In order of last change: a version replaced is taken out and the next put back at the end.
  const held = new Map<string, HeldVersion>();
  const writtenOut = new Set<string>();
  let ended: SqlValue[][] = [];
  const writeEnded = async (tx: SqlDatabase) => {
    if (ended.length > 0) await tx.insertRows('read_pipeline_history', COLUMNS, ended);
    ended = [];
  };
  return {
    async apply(tx, recorded) {
      const event = recorded as RecordedOpportunityEvent;
      const id = event.data.opportunityId;
      if (writtenOut.has(id)) {
        // Its rows are in the table: `apply` reads them, as a replay would. What is held must be there first.
        await writeEnded(tx);
        return pipelineHistoryProjection.apply(tx, recorded);
      }
      const latest = held.get(id);
      if (latest !== undefined && latest.seq >= event.revision) return;
      const next = evolvePipelineEntry(latest?.entry, event);
      if (next === undefined) throw new Error(`Opportunity ${id} has a ${event.type} but was never opened`);
      if (latest !== undefined && sameEntry(latest.entry, next)) return;
      const occurredAt = utcInstant(event.metadata.occurredAt);
      const recordedAt = utcInstant(event.metadata.recordedAt);
      if (latest !== undefined) {
        ended.push(rowOf(id, latest, { validTo: occurredAt, knownTo: recordedAt }));
        held.delete(id);
      }
      held.set(id, { seq: event.revision, entry: next, validFrom: occurredAt, knownFrom: recordedAt });
    },
    async flush(tx, everything) {
      await writeEnded(tx);
      const keep = everything ? 0 : maxHeld;
      const out: SqlValue[][] = [];
      for (const [id, version] of held) {
        if (held.size - out.length <= keep) break;
        out.push(rowOf(id, version));
        writtenOut.add(id);
      }
      for (const row of out) held.delete(row[0] as string);
      if (out.length > 0) await tx.insertRows('read_pipeline_history', COLUMNS, out);
      // Once, from every version written: those held in memory never moved them.
      if (everything) await rebuildPipelineChanges(tx);
    },
  };
};

/**
 * The entry after an event, folded by the domain's own `evolveOpportunity`: the entry's fields
 * only ever depend on the entry's fields and the event, so the rest of the state (name, quotes,
 * activities) can start empty without changing them.
 */
export const evolvePipelineEntry = (entry: PipelineEntry | undefined, event: OpportunityEvent): PipelineEntry | undefined => {
  // Every field named rather than the entry spread and added to: V8 makes an object of known
  // shape at once. `npm run bench:folds`: 1.5 us an event, 5.5 to 6.3 with the spread.
  const state: OpportunityState =
    entry === undefined
      ? initialOpportunityState()
      : {
          status: entry.status,
          opportunityId: event.data.opportunityId,
          accountId: entry.accountId,
          name: '',
          amount: entry.amount,
          stage: entry.stage,
          probability: entry.probability,
          ownerId: entry.ownerId,
          currency: entry.amount?.currency,
          quotes: {},
          quoteAmounts: {},
          activities: {},
        };
  const next = evolveOpportunity(state, event);
  if (next.status === 'NONE') return undefined;
  const { status, stage, probability, amount, ownerId, accountId } = next;
  return { status, stage, probability, amount, ownerId, accountId };
};

const sameEntry = (a: PipelineEntry, b: PipelineEntry): boolean =>
  a.status === b.status &&
  a.stage === b.stage &&
  a.probability === b.probability &&
  a.amount?.amount === b.amount?.amount &&
  a.amount?.currency === b.amount?.currency &&
  a.ownerId === b.ownerId &&
  a.accountId === b.accountId;

const entryOf = (row: Record<string, SqlValue>): PipelineEntry => ({
  status: row.status as OpportunityStatus,
  stage: row.stage as string,
  probability: Number(row.probability),
  amount: row.amount === null ? undefined : { amount: row.amount as string, currency: row.currency as string },
  ownerId: (row.owner_id as string | null) ?? undefined,
  accountId: row.account_id as string,
});

/** Stands for "no limit" on a time axis: every stored ISO-8601 time sorts before it. */
const END_OF_TIME = '9999-12-31T23:59:59.999Z';

const DAY_MS = 86_400_000;
/** 2^20 days is about 2,900 years: no interval reaches a higher level. */
const MAX_LEVEL = 20;

/**
 * Where an ended interval [from, to) is filed: the lowest level at which its days span at most
 * two consecutive blocks of 2^level days, and the first of those blocks. A point in the
 * interval then lies in that block or the next, at that level.
 */
export const bucketOf = (from: string, to: string): { level: number; block: number } => {
  const first = Math.floor(Date.parse(from) / DAY_MS);
  const last = Math.floor(Date.parse(to) / DAY_MS);
  let level = 0;
  while (Math.floor(last / 2 ** level) - Math.floor(first / 2 ** level) > 1) level++;
  return { level, block: Math.floor(first / 2 ** level) };
};

/**
 * The open versions whose blocks may hold an interval containing `at`: per level, its own block
 * and the one before. Each term names the whole index prefix, so that SQLite and PostgreSQL
 * scan one small index range per term (a multi-index OR, a bitmap OR) instead of the table.
 */
const probe = (levelColumn: string, blockColumn: string, at: string): { sql: string; params: SqlValue[] } => {
  const day = Math.floor(Date.parse(at) / DAY_MS);
  const terms: string[] = [];
  const params: SqlValue[] = [];
  for (let level = 0; level <= MAX_LEVEL; level++) {
    const block = Math.floor(day / 2 ** level);
    terms.push(`(status = 'OPEN' AND ${levelColumn} = ? AND ${blockColumn} >= ? AND ${blockColumn} <= ?)`);
    params.push(level, block - 1, block);
  }
  return { sql: `(${terms.join(' OR ')})`, params };
};

export interface PipelineAsOfFilter {
  ownerId?: string;
  accountId?: string;
  /** The currency totals are reported in; the pipeline's by default. */
  currency?: string;
}

type Group = {
  stage: string;
  currency: string | null;
  probability: number;
  opportunities: number | bigint;
  whole_high: string | null;
  whole_low: string | null;
  nanos: string | null;
};

/**
 * The pipeline report as it was at `asOf` (business time) as known at `knownAt` (recording
 * time); either may be absent, meaning "now". Same totals as the live report, over the
 * versions open at that point.
 */
export const pipelineAsOf = async (
  db: SqlDatabase,
  pipeline: Pipeline,
  window: { asOf?: Date; knownAt?: Date },
  filter: PipelineAsOfFilter = {},
): Promise<PipelineSummary> => {
  const asOf = window.asOf?.toISOString() ?? END_OF_TIME;
  const knownAt = window.knownAt?.toISOString() ?? END_OF_TIME;
  if (window.knownAt === undefined && filter.ownerId === undefined && filter.accountId === undefined && PLAIN_YEAR_INSTANT.test(asOf)) {
    // As known now, uncut: from the open pipeline's changes by month and day (pipelineChanges.ts),
    // or, while the version that keeps them is built beside the old tables, from the versions.
    const at = openPipelineAt(asOf);
    // A day of versions and a few hundred cells, whatever the date: one plan fits every use.
    const groups = await db.all<Group>(at.sql, at.params, { planOnce: true }).catch((error: unknown) => {
      if (isMissingTable(error)) return undefined;
      throw error;
    });
    if (groups !== undefined) return summarisePipeline(groups.map(toPipelineRow), pipeline, filter.currency);
  }
  const cut: string[] = [];
  const cutParams: SqlValue[] = [];
  for (const [column, value] of [['owner_id', filter.ownerId], ['account_id', filter.accountId]] as const) {
    if (value === undefined) continue;
    cut.push(` AND ${column} = ?`);
    cutParams.push(value);
  }
  const valid = probe('valid_level', 'valid_block', asOf);
  const parts = [
    // Current versions that had started, on both axes.
    { sql: "status = 'OPEN' AND valid_to IS NULL AND valid_from <= ? AND known_from <= ?", params: [asOf, knownAt] },
    // Ended versions whose business-time interval contains asOf.
    {
      sql: `${valid.sql} AND valid_from <= ? AND valid_to > ? AND known_from <= ?`,
      params: [...valid.params, asOf, asOf, knownAt],
    },
  ];
  if (window.knownAt !== undefined) {
    // Versions ended by asOf in business time, by a fact not yet recorded at knownAt.
    const known = probe('known_level', 'known_block', knownAt);
    parts.push({
      sql: `${known.sql} AND known_from <= ? AND known_to > ? AND valid_from <= ? AND valid_to <= ?`,
      params: [...known.params, knownAt, knownAt, asOf, asOf],
    });
  }
  const selects = parts.map(
    (part) =>
      `SELECT stage, currency, probability, amount_whole, amount_nanos FROM read_pipeline_history
       WHERE ${part.sql}${cut.join('')}`,
  );
  const groups = await db.all<Group>(
    // As text: a 64-bit sum read as a JavaScript number would lose digits beyond 2^53.
    `SELECT stage, currency, probability, COUNT(*) AS opportunities,
       CAST(SUM(amount_whole / ${WHOLE_SPLIT}) AS TEXT) AS whole_high,
       CAST(SUM(amount_whole % ${WHOLE_SPLIT}) AS TEXT) AS whole_low, CAST(SUM(amount_nanos) AS TEXT) AS nanos
     FROM (${selects.join(' UNION ALL ')}) open_then GROUP BY stage, currency, probability`,
    parts.flatMap((part) => [...part.params, ...cutParams]),
  );
  return summarisePipeline(groups.map(toPipelineRow), pipeline, filter.currency);
};

const toPipelineRow = (group: Group): PipelineRow => ({
  stage: group.stage,
  currency: group.currency,
  probability: Number(group.probability),
  count: Number(group.opportunities),
  amount:
    group.currency === null || group.whole_high === null
      ? null
      : fromUnits(
          unitsOfSums({
            wholeHigh: BigInt(group.whole_high),
            wholeLow: BigInt(group.whole_low ?? '0'),
            fraction: BigInt(group.nanos ?? '0'),
          }),
        ),
});

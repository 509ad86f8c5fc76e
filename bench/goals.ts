/**
 * Issue 11's goals beside what one `npm run bench` measured: each as a ratio or figure in the
 * same run, with its target and whether it was met. A goal whose parts did not run (or whose
 * data set is not the size the goal names) says so instead of guessing.
 */
import type { EmmettResult } from './emmettPeer';
import type { LoadResult } from './harness';
import type { CaptureLeadResult } from './httpCaptureLead';
import type { InsightsResult } from './insights';
import type { InsightsPostgresResult } from './insightsPostgres';

/** What one round of the load parts measured (`BENCH_ROUNDS`): each server once, one after the other. */
export interface LoadRound {
  captureLead?: CaptureLeadResult;
  captureLeadPostgres?: CaptureLeadResult;
  standalone?: LoadResult;
  crud?: LoadResult;
  emmett?: EmmettResult;
}

export interface BenchResults extends LoadRound {
  insights?: InsightsResult;
  insightsPostgres?: InsightsPostgresResult;
  connections: number;
  /**
   * Every round of the load parts, when there were several: goals 1 and 2 are then the median of
   * the ratios within each round (the two servers measured minutes apart, not a whole run apart),
   * and the p99 the median of the rounds'. Without it, the one round is the results' own parts.
   */
  rounds?: readonly LoadRound[];
}

export interface GoalRow {
  goal: string;
  measured: string;
  target: string;
  /** undefined: not measured in this run (`measured` says why). */
  met?: boolean;
}

const AT_SCALE = 1_000_000;
const ratio = (a: number, b: number) => a / b;
/** Requests a second of one server over another's, when both ran. */
const ratioOf = (ours: LoadResult | undefined, peer: LoadResult | undefined): number | undefined =>
  ours && peer ? ratio(ours.requestsPerSec, peer.requestsPerSec) : undefined;

const onSqlite = (round: LoadRound) => (round.captureLead?.store === 'sqlite' ? round.captureLead : undefined);

/** Goals 1 and 2's ratios: each of two servers measured in one round, and the parts it needs. */
export const LOAD_RATIOS = [
  { name: 'SQLite / Apollo standalone', goal: 1, target: 0.35, parts: 'captureLead,standalone', of: (round: LoadRound) => ratioOf(onSqlite(round), round.standalone) },
  { name: 'SQLite / plain CRUD peer', goal: 1, target: 2, parts: 'captureLead,crud', of: (round: LoadRound) => ratioOf(onSqlite(round), round.crud) },
  { name: 'PostgreSQL / Emmett peer', goal: 2, target: 1.5, parts: 'captureLeadPostgres,emmett', of: (round: LoadRound) => ratioOf(round.captureLeadPostgres, round.emmett) },
  { name: 'PostgreSQL / plain CRUD peer', goal: 2, target: 0.8, parts: 'captureLeadPostgres,crud', of: (round: LoadRound) => ratioOf(round.captureLeadPostgres, round.crud) },
] as const;

export const goalRows = (results: BenchResults): GoalRow[] => {
  const { insights, insightsPostgres } = results;
  const rounds = results.rounds && results.rounds.length > 0 ? results.rounds : [results];
  /**
   * The median over the rounds of what each measured (undefined where a round lacks a part); of
   * an even count, the mean of the two middle values, so that neither the better nor the worse
   * round decides whether a goal is met.
   */
  const acrossRounds = (value: (round: LoadRound) => number | undefined): number | undefined => {
    const values = rounds.map(value).filter((measured): measured is number => measured !== undefined);
    if (values.length === 0) return undefined;
    const sorted = values.sort((a, b) => a - b);
    const middle = sorted.length / 2;
    return sorted.length % 2 === 1 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  };
  const missing = (...parts: string[]) => `not measured: run --only ${parts.join(',')}`;
  const atLeast = (goal: string, target: number, value: number | undefined, why: string): GoalRow =>
    value === undefined
      ? { goal, measured: why, target: `>= ${target}` }
      : { goal, measured: value.toFixed(3), target: `>= ${target}`, met: value >= target };
  const atMost = (goal: string, target: number, unit: string, value: number | undefined, why: string): GoalRow =>
    value === undefined
      ? { goal, measured: why, target: `<= ${target} ${unit}` }
      : { goal, measured: `${value.toFixed(value < 10 ? 2 : 0)} ${unit}`, target: `<= ${target} ${unit}`, met: value <= target };

  const ratioRow = ({ name, goal, target, parts, of }: (typeof LOAD_RATIOS)[number]) =>
    atLeast(`${goal}. captureLead on ${name}, req/s`, target, acrossRounds(of), missing(parts));
  const rows: GoalRow[] = [
    ...LOAD_RATIOS.filter(({ goal }) => goal === 1).map(ratioRow),
    atMost(`1. captureLead on SQLite, p99 at ${results.connections} connections`, 25, 'ms', acrossRounds((round) => onSqlite(round)?.latencyP99Ms), missing('captureLead')),
    ...LOAD_RATIOS.filter(({ goal }) => goal === 2).map(ratioRow),
    atLeast(
      '3. rebuild / read-and-parse rate, SQLite',
      0.5,
      insights && ratio(insights.projectionReplay.eventsPerSecond, insights.rawRead.eventsPerSecond),
      missing('insights'),
    ),
  ];
  rows.push(
    atLeast(
      '3. rebuild / read-and-parse rate, PostgreSQL',
      0.5,
      insightsPostgres && ratio(insightsPostgres.projectionReplay.eventsPerSecond, insightsPostgres.rawRead.eventsPerSecond),
      missing('insightsPostgres'),
    ),
  );
  for (const [measured, store, part] of [
    [insights, 'SQLite', 'insights'],
    [insightsPostgres, 'PostgreSQL', 'insightsPostgres'],
  ] as const) {
    const scale = measured && measured.dataset.events < AT_SCALE ? `, at ${measured.dataset.events.toLocaleString('en')} events, not 1M` : '';
    for (const [name, load] of Object.entries(measured?.queries ?? {})) {
      rows.push(atMost(`4. ${name} p99, 1 connection (${store}${scale})`, 10, 'ms', 'missing' in load ? undefined : load.latencyP99Ms, 'not offered by the API'));
    }
    if (!measured) rows.push({ goal: `4. report queries p99 (${store})`, measured: missing(part), target: '<= 10 ms' });
    const underWrites = measured?.underWrites;
    rows.push(
      atMost(
        `4. report queries p99, ${underWrites ? `${underWrites.readers} readers while ${underWrites.writers} connections capture` : 'concurrent readers during writes'} (${store}${scale})`,
        50,
        'ms',
        underWrites?.reads.latencyP99Ms,
        measured ? 'not measured: BENCH_CONCURRENT_READERS is 0' : missing(part),
      ),
    );
  }
  const scale = insights && insights.dataset.events < AT_SCALE ? ` (at ${insights.dataset.events.toLocaleString('en')} events, not 1M)` : '';
  rows.push(
    atLeast(
      `5. generating the insights history, thousand events/s${insights?.dataset.reused ? ' (an earlier run)' : ''}`,
      20,
      insights && insights.dataset.events / insights.dataset.generationSeconds / 1000,
      missing('insights'),
    ),
    atLeast(
      `5. generating the history on PostgreSQL, thousand events/s${insightsPostgres?.dataset.reused ? ' (an earlier run)' : ''}`,
      20,
      insightsPostgres && insightsPostgres.dataset.events / insightsPostgres.dataset.generationSeconds / 1000,
      missing('insightsPostgres'),
    ),
    atMost(`6. API resident memory while queried (built)${scale}`, 300, 'MiB', insights?.server.peakRssMiB, missing('insights')),
    atMost(
      `6. API ready after spawn (${insights?.server.builtReadyMs === undefined ? 'through tsx' : 'built, as npm start runs it'})${scale}`,
      2,
      's',
      insights && (insights.server.builtReadyMs ?? insights.server.readyMs) / 1000,
      missing('insights'),
    ),
  );
  return rows;
};

export const formatGoals = (rows: readonly GoalRow[]): string => {
  const cells = [['issue 11 goal', 'measured', 'target', ''], ...rows.map((row) => [row.goal, row.measured, row.target, row.met === undefined ? '-' : row.met ? 'met' : 'NOT met'])];
  const widths = cells[0]!.map((_, index) => Math.max(...cells.map((row) => row[index]!.length)));
  return cells.map((row) => row.map((cell, index) => cell.padEnd(widths[index]!)).join('  ').trimEnd()).join('\n');
};

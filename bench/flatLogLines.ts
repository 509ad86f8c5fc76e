/**
 * `npm run bench:flat-log-lines`: what the log line of each GraphQL request costs the API's main
 * thread, written by the logger's usual child (pino's redaction tries each member path on each
 * field) and by `childForFlatLines` (top-level fields only), alternated in the same run. Each round
 * writes `BENCH_LOG_LINES` (200,000) lines to a destination that drops them; printed: µs a line
 * and the time V8's collections took, medians of `BENCH_LOG_ROUNDS` (5) rounds. The two children's
 * lines must be the same text apart from their time.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { childForFlatLines, createLogger, type Logger } from '../src/observability/logger';
import { envNumber } from './harness';

const LINES = envNumber('BENCH_LOG_LINES', 200_000, 1);
const ROUNDS = envNumber('BENCH_LOG_ROUNDS', 5, 1);

let written = '';
let keep = false;
const logger = createLogger({
  level: 'info',
  json: true,
  destination: {
    write(line: string) {
      if (keep) written = line;
    },
  },
});

/** The fields `observeRequests` logs for a capture. */
const requestLine = (index: number) => ({
  operation: 'captureLead',
  operationType: 'mutation',
  operationName: 'Capture',
  actor: 'sales-rep-1',
  correlationId: `c0ffee00-0000-4000-8000-${String(index).padStart(12, '0')}`,
  durationMs: 12.3,
  result: 'OK',
  status: 200,
});

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ['gc'] });

const timed = async (log: Logger) => {
  const gcBefore = gcMs;
  const started = process.hrtime.bigint();
  for (let index = 0; index < LINES; index++) log.info(requestLine(index), 'graphql request');
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  // The observer hears of the round's collections on a later turn of the event loop.
  await new Promise((resolve) => setTimeout(resolve, 50));
  return { usPerLine: (ms * 1000) / LINES, gcMs: gcMs - gcBefore };
};

const lineOf = (log: Logger) => {
  keep = true;
  log.info(requestLine(7), 'graphql request');
  keep = false;
  return written.replace(/"time":"[^"]*"/, '');
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const main = async () => {
  const usual = logger.child({ component: 'graphql' });
  const flat = childForFlatLines(logger, { component: 'graphql' });
  if (lineOf(usual) !== lineOf(flat)) throw new Error(`the lines differ:\n${lineOf(usual)}\n${lineOf(flat)}`);
  const results: Record<'usual' | 'flat', Awaited<ReturnType<typeof timed>>[]> = { usual: [], flat: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternated, and the order swapped each round.
    const order = round % 2 === 0 ? (['usual', 'flat'] as const) : (['flat', 'usual'] as const);
    for (const name of order) results[name].push(await timed(name === 'usual' ? usual : flat));
  }
  const usUsual = median(results.usual.map((r) => r.usPerLine));
  const usFlat = median(results.flat.map((r) => r.usPerLine));
  console.log(`${LINES} request lines a round, ${ROUNDS} rounds, medians`);
  console.log(`usual child (every redaction path):   ${usUsual.toFixed(2)} µs a line, collections ${median(results.usual.map((r) => r.gcMs)).toFixed(0)} ms a round`);
  console.log(`childForFlatLines (top-level fields): ${usFlat.toFixed(2)} µs a line, collections ${median(results.flat.map((r) => r.gcMs)).toFixed(0)} ms a round`);
  console.log(`flat / usual: ${(usFlat / usUsual).toFixed(2)}`);
};

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

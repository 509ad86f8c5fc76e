/**
 * `npm run bench:memory`: issue 11's goal 6 (at most 300 MB resident while the API serves a
 * million events under load) without the insights bench's rebuild. On a copy of the insights
 * bench's history (`BENCH_LEADS`, 114,000 by default; generated when missing), the built API
 * (`npm run build`, as `npm start` runs it) gets the insights bench's query phases, as that bench
 * runs them (`queryServer`): each report query on one connection, those computed each time among
 * them, then the readers under writes; each phase `BENCH_DURATION` (10) seconds, no warm-up
 * unless `BENCH_WARMUP` says. `BENCH_STORE=postgres` does the same on the PostgreSQL history of
 * `npm run bench -- --only insightsPostgres` (generated when missing). It prints the API's largest
 * resident memory in each phase, sampled every 200 ms, beside the phase's rate and p99, so that a
 * change to memory shows what it costs in speed.
 *
 * The order matters: reports computed and dropped leave the heap grown for the phase under writes,
 * which is where the API peaks. `BENCH_SERVER_NODE_ARGS` gives the API node flags of its own, to
 * compare settings in one run (for example `--heap-growing-percent=0`, V8's own heap growth,
 * beside the API's: src/composition/heapGrowth.ts).
 */
import { BUILT_ENTRY, buildOnce } from './httpCaptureLead';
import { envNumber, type LoadResult } from './harness';
import { insightsSettingsFromEnv, queryServer, UNDER_WRITES } from './insights';
import { servedHistory } from './insightsPostgres';

const settings = { ...insightsSettingsFromEnv(envNumber), leads: envNumber('BENCH_LEADS', 114_000, 1), warmupSec: envNumber('BENCH_WARMUP', 0, 0) };
const GOAL_MIB = 300;

const rate = (load: LoadResult) => `${load.requestsPerSec.toFixed(0)}/s, p50 ${load.latencyP50Ms} ms, p99 ${load.latencyP99Ms} ms`;

const main = async () => {
  const store = process.env.BENCH_STORE ?? 'sqlite';
  const { dataset, base, start, remove } = await servedHistory(store, settings.leads, settings.seed);
  try {
    buildOnce();
    const server = await start('API (dist/main.js)', BUILT_ENTRY);
    const peaks = new Map<string, number>([['ready', server.rssMiB() ?? 0]]);
    let phase = 'ready';
    const sample = () => peaks.set(phase, Math.max(peaks.get(phase) ?? 0, server.rssMiB() ?? 0));
    const sampler = setInterval(sample, 200);
    const measured = await queryServer(`${base}/graphql`, dataset, settings, (name) => {
      sample();
      phase = name;
    }).finally(async () => {
      sample();
      clearInterval(sampler);
      await server.stop();
    });
    const rates = new Map(Object.entries(measured.queries).map(([name, load]) => [name, 'missing' in load ? `missing: ${load.missing}` : rate(load)]));
    const { underWrites } = measured;
    if (underWrites) rates.set(UNDER_WRITES, `reads ${rate(underWrites.reads)}; captures ${rate(underWrites.writes)}`);
    console.log(`API on ${store}, node flags: ${process.env.BENCH_SERVER_NODE_ARGS || '(none)'}; ${dataset.events} events`);
    console.log(`${'phase'.padEnd(66)} ${'peak MiB'.padStart(8)}  rate`);
    for (const [name, peakMiB] of peaks) console.log(`${name.padEnd(66)} ${peakMiB.toFixed(0).padStart(8)}  ${rates.get(name) ?? ''}`);
    const peak = Math.max(...peaks.values());
    console.log(`largest: ${peak.toFixed(0)} MiB (goal 6: <= ${GOAL_MIB} MiB) ${peak <= GOAL_MIB ? 'met' : 'NOT met'}`);
  } finally {
    await remove();
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

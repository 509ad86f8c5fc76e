/**
 * `npm run bench:memory`: issue 11's goal 6 (at most 300 MB resident while the API serves a
 * million events under load) without the insights bench's rebuild. On a copy of the insights
 * bench's history (`BENCH_LEADS`, 114,000 by default; generated when missing), the built API
 * (`npm run build`, as `npm start` runs it) is asked the insights bench's report queries, each
 * for `BENCH_MEMORY_PHASE` (7) seconds on one connection, those computed each time among them,
 * then the readers under writes (`BENCH_CONCURRENT_READERS`, `BENCH_WRITE_CONNECTIONS`,
 * `BENCH_DURATION`). It prints the API's largest resident memory in each phase, sampled every
 * 200 ms, and each phase's rate and p99, so that a change to memory shows what it costs in speed.
 *
 * The insights bench's order matters: reports computed and dropped leave the heap grown for the
 * phase under writes, which is where the API peaks. `BENCH_SERVER_NODE_ARGS` gives the API's node
 * flags of its own, to compare settings in one run (for example `--heap-growing-percent=0`, V8's
 * own heap growth, beside the API's: src/composition/heapGrowth.ts).
 */
import { mintToken } from '../src/identity/jwt';
import { BUILT_ENTRY, buildOnce, captureLeadBody } from './httpCaptureLead';
import { envNumber, runLoad } from './harness';
import { ensureDataset, insightsSettingsFromEnv, reportQueries, SECRET, servedCopyOf } from './insights';

const { seed, concurrentReaders: readers, writeConnections: writers, durationSec } = insightsSettingsFromEnv(envNumber);
const leads = envNumber('BENCH_LEADS', 114_000, 1);
const phaseSec = envNumber('BENCH_MEMORY_PHASE', 7, 1);
const GOAL_MIB = 300;

const main = async () => {
  const { dataset } = await ensureDataset(leads, seed);
  buildOnce();
  const { served, start } = await servedCopyOf(dataset);
  const url = `${served.base}/graphql`;
  const token = await mintToken({ sub: 'bench', roles: ['sales', 'sales_manager'] }, new TextEncoder().encode(SECRET));
  const headers = { authorization: `Bearer ${token}` };
  try {
    const server = await start('API (dist/main.js)', BUILT_ENTRY);
    const phases: Array<{ name: string; peakMiB: number; rate?: string }> = [{ name: 'ready', peakMiB: server.rssMiB() ?? 0 }];
    const sampler = setInterval(() => {
      const phase = phases.at(-1)!;
      phase.peakMiB = Math.max(phase.peakMiB, server.rssMiB() ?? 0);
    }, 200);
    try {
      const offered: string[] = [];
      for (const [name, requestOf] of Object.entries(reportQueries(dataset))) {
        if (!name.endsWith('computed each time')) offered.push(JSON.stringify(requestOf(0)));
        process.stderr.write(`bench memory: ${name}, ${phaseSec}s on 1 connection...\n`);
        phases.push({ name, peakMiB: 0 });
        let asked = 1;
        const load = await runLoad(url, headers, () => JSON.stringify(requestOf(asked++)), { connections: 1, durationSec: phaseSec });
        phases.at(-1)!.rate = `${load.requestsPerSec.toFixed(0)}/s, p99 ${load.latencyP99Ms} ms`;
      }
      process.stderr.write(`bench memory: ${readers} readers while ${writers} connections capture, ${durationSec}s...\n`);
      phases.push({ name: `${readers} readers while ${writers} connections capture`, peakMiB: 0 });
      const [reads, writes] = await Promise.all([
        runLoad(url, headers, (n) => offered[n % offered.length]!, { connections: readers, durationSec }),
        runLoad(url, headers, (n) => captureLeadBody('memory', n), { connections: writers, durationSec }),
      ]);
      phases.at(-1)!.rate =
        `reads ${reads.requestsPerSec.toFixed(0)}/s, p50 ${reads.latencyP50Ms} ms, p99 ${reads.latencyP99Ms} ms; ` +
        `captures ${writes.requestsPerSec.toFixed(0)}/s, p99 ${writes.latencyP99Ms} ms`;
    } finally {
      clearInterval(sampler);
      await server.stop();
    }
    console.log(`API node flags: ${process.env.BENCH_SERVER_NODE_ARGS || '(none)'}; ${dataset.events} events`);
    console.log(`${'phase'.padEnd(66)} ${'peak MiB'.padStart(8)}  rate`);
    for (const { name, peakMiB, rate } of phases) console.log(`${name.padEnd(66)} ${peakMiB.toFixed(0).padStart(8)}  ${rate ?? ''}`);
    const peak = Math.max(...phases.map((phase) => phase.peakMiB));
    console.log(`largest: ${peak.toFixed(0)} MiB (goal 6: <= ${GOAL_MIB} MiB) ${peak <= GOAL_MIB ? 'met' : 'NOT met'}`);
  } finally {
    served.remove();
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

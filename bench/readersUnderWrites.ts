/**
 * `npm run bench:readers`: the insights bench's phase "readers under writes" (issue 11, goal 4),
 * with each reader's latency by query, which the insights bench (autocannon, one figure for all
 * readers) does not tell. On a copy of the insights bench's history (`BENCH_LEADS`, 114,000 by
 * default; generated when missing, as the insights bench does), the built API (`npm run build`,
 * as `npm start` runs it), `BENCH_CONCURRENT_READERS` (20) connections ask the report queries in
 * turn while `BENCH_WRITE_CONNECTIONS` (10) capture leads, for `BENCH_DURATION` (10) seconds.
 * Each connection is a closed loop: its next request leaves when its answer arrives.
 * `BENCH_STORE=postgres` does the same on the PostgreSQL history of `npm run bench -- --only
 * insightsPostgres` (generated when missing).
 */
import os from 'node:os';
import { mintToken } from '../src/identity/jwt';
import { BUILT_ENTRY, buildOnce, captureLeadBody } from './httpCaptureLead';
import { envNumber, percentile } from './harness';
import { insightsSettingsFromEnv, reportQueries, SECRET } from './insights';
import { servedHistory } from './insightsPostgres';

// The insights bench's settings, the size of the history included.
const { leads, seed, concurrentReaders: readers, writeConnections: writers, durationSec } = insightsSettingsFromEnv(envNumber);

const main = async () => {
  const { dataset, base, start, remove } = await servedHistory(process.env.BENCH_STORE ?? 'sqlite', leads, seed);
  try {
    buildOnce();
    const server = await start('API (dist/main.js)', BUILT_ENTRY);
    try {
      const url = `${base}/graphql`;
      const token = await mintToken({ sub: 'bench', roles: ['sales', 'sales_manager'] }, new TextEncoder().encode(SECRET));
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      // The queries the insights bench's readers ask: those a dashboard asks over and over.
      const queries = Object.entries(reportQueries(dataset)).filter(([name]) => !name.endsWith('computed each time'));
      const latencies = new Map<string, number[]>([...queries.map(([name]) => [name, []] as [string, number[]]), ['captureLead', []]]);
      const failures: string[] = [];
      const until = performance.now() + durationSec * 1000;
      const ask = async (name: string, body: string) => {
        const sent = performance.now();
        const response = await fetch(url, { method: 'POST', headers, body });
        const text = await response.text();
        latencies.get(name)!.push(performance.now() - sent);
        if (response.status !== 200 || text.includes('"errors"')) failures.push(`${name}: ${response.status} ${text.slice(0, 200)}`);
      };
      let asked = 0;
      let captured = 0;
      const reader = async () => {
        while (performance.now() < until) {
          const [name, request] = queries[asked++ % queries.length]!;
          await ask(name, JSON.stringify(request(0)));
        }
      };
      const writer = async () => {
        while (performance.now() < until) await ask('captureLead', captureLeadBody('readers', captured++));
      };
      // Goal 6 asks for at most 300 MB resident while the API serves under load: this phase is its peak.
      let peakRssMiB = 0;
      const sampler = setInterval(() => (peakRssMiB = Math.max(peakRssMiB, server.rssMiB() ?? 0)), 250);
      process.stderr.write(`bench readers: ${readers} readers asking the report queries in turn while ${writers} connections capture leads, ${durationSec}s...\n`);
      // The load is generated here, on the same cores as the API: what each side spent tells how
      // much of the machine the API had (the insights bench's autocannon client costs less).
      const clientBefore = process.cpuUsage();
      const serverBefore = server.cpuSeconds();
      const scheduleBefore = server.mainThreadSchedule();
      await Promise.all([...Array.from({ length: readers }, reader), ...Array.from({ length: writers }, writer)]);
      const client = process.cpuUsage(clientBefore);
      const serverAfter = server.cpuSeconds();
      const scheduleAfter = server.mainThreadSchedule();
      clearInterval(sampler);
      const line = (name: string, values: number[]) => {
        const sorted = [...values].sort((a, b) => a - b);
        return `${name.padEnd(45)} ${String(sorted.length).padStart(6)} ${(sorted.length / durationSec).toFixed(0).padStart(7)} ${percentile(sorted, 0.5).toFixed(1).padStart(8)} ${percentile(sorted, 0.99).toFixed(1).padStart(8)}`;
      };
      const reads = queries.flatMap(([name]) => latencies.get(name)!);
      console.log(`${'query'.padEnd(45)} ${'asked'.padStart(6)} ${'per s'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
      for (const [name] of queries) console.log(line(name, latencies.get(name)!));
      console.log(line('every read (goal 4: p99 <= 50 ms)', reads));
      console.log(line('captureLead, meanwhile', latencies.get('captureLead')!));
      console.log(`API resident at most ${peakRssMiB.toFixed(0)} MiB meanwhile (goal 6: <= 300 MB)`);
      const apiSeconds = serverAfter === undefined || serverBefore === undefined ? '?' : (serverAfter - serverBefore).toFixed(1);
      const generatorSeconds = ((client.user + client.system) / 1e6).toFixed(1);
      console.log(`CPU seconds in these ${durationSec} s (${os.availableParallelism()} cores): API ${apiSeconds}, this load generator ${generatorSeconds}`);
      if (scheduleBefore !== undefined && scheduleAfter !== undefined) {
        // A main thread on a core all the time is the limit itself; one that waits for a core shares them.
        const onCore = scheduleAfter.onCoreSeconds - scheduleBefore.onCoreSeconds;
        const waiting = scheduleAfter.waitingSeconds - scheduleBefore.waitingSeconds;
        console.log(
          `API main thread in these ${durationSec} s: on a core ${onCore.toFixed(1)} s, runnable but waiting for a core ${waiting.toFixed(1)} s, ` +
            `idle ${Math.max(0, durationSec - onCore - waiting).toFixed(1)} s`,
        );
      }
      console.log(`${failures.length} failed${failures.length > 0 ? `; the first: ${failures[0]}` : ''}`);
      if (failures.length > 0) process.exitCode = 1;
    } finally {
      await server.stop();
    }
  } finally {
    await remove();
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

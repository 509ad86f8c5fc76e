/**
 * `npm run bench:rebuild-beside`: the second half of issue 11's goal 3, a rebuild that does not
 * stop the service, measured. On a copy of the insights bench's history (`BENCH_LEADS` leads,
 * 114,000 by default, generated when missing), the stored version of one projection
 * (`BENCH_PROJECTION`, `audit-events` by default) is lowered, as the deployment of its next version
 * finds it. The built API (`npm run build`, as `npm start` runs it) then rebuilds it beside its
 * old rows, while `/healthz` is asked every 10 ms and a lead is captured every 50 ms, until
 * `/readyz` no longer lists it as rebuilding.
 *
 * Prints how long that took, `/healthz`'s p50, p99 and longest answer and the time its answers
 * over 100 ms took in all (what the serving thread was held for), and the captures made, failed and
 * the longest (what writes wait for: the copy's write turn).
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { mintToken } from '../src/identity/jwt';
import { loadConfig } from '../src/composition/config';
import { BUILT_ENTRY, buildOnce, captureLeadBody } from './httpCaptureLead';
import { envNumber, percentile } from './harness';
import { SECRET, ensureDataset, insightsSettingsFromEnv, servedCopyOf } from './insights';

const HEALTH_EVERY_MS = 10;
const CAPTURE_EVERY_MS = 50;
const READY_EVERY_MS = 250;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const main = async () => {
  // The insights bench's history, of the size its settings give.
  const { leads, seed } = insightsSettingsFromEnv(envNumber);
  const projection = process.env.BENCH_PROJECTION ?? 'audit-events';
  const { dataset } = await ensureDataset(leads, seed);
  const { served, start } = await servedCopyOf(dataset);
  try {
    const { readStore } = loadConfig({ CRM_JWT_SECRET: SECRET }, { dataDir: served.dir });
    if (readStore.kind !== 'sqlite') throw new Error('the insights history is on SQLite');
    const file = new Database(readStore.filename);
    try {
      const { changes } = file.prepare('UPDATE projection_checkpoints SET version = version - 1 WHERE name = ?').run(projection);
      if (changes !== 1) throw new Error(`No checkpoint of a projection named ${projection}`);
    } finally {
      file.close();
    }
    buildOnce();
    const began = performance.now();
    const server = await start('API (dist/main.js)', BUILT_ENTRY);
    const token = await mintToken({ sub: 'bench', roles: ['sales'] }, new TextEncoder().encode(SECRET));
    const health: number[] = [];
    const captures: number[] = [];
    let failedCaptures = 0;
    let rebuilding = true;
    try {
      const askHealth = async () => {
        while (rebuilding) {
          const asked = performance.now();
          await fetch(`${served.base}/healthz`).then((response) => response.arrayBuffer());
          health.push(performance.now() - asked);
          await sleep(HEALTH_EVERY_MS);
        }
      };
      const capture = async (n: number) => {
        const asked = performance.now();
        const response = await fetch(`${served.base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: captureLeadBody(`beside-${Date.now()}`, n),
        }).catch(() => undefined);
        const body = (await response?.json().catch(() => undefined)) as { errors?: unknown } | undefined;
        if (response?.status !== 200 || body === undefined || body.errors !== undefined) failedCaptures += 1;
        captures.push(performance.now() - asked);
      };
      const captureEvery = async () => {
        const made: Promise<void>[] = [];
        for (let n = 0; rebuilding; n++) {
          made.push(capture(n));
          await sleep(CAPTURE_EVERY_MS);
        }
        await Promise.all(made);
      };
      const waitForTheSwitch = async () => {
        for (;;) {
          const ready = (await (await fetch(`${served.base}/readyz`)).json()) as { rebuildingProjections?: string[] };
          if (!(ready.rebuildingProjections ?? []).includes(projection)) break;
          await sleep(READY_EVERY_MS);
        }
        rebuilding = false;
      };
      await Promise.all([askHealth(), captureEvery(), waitForTheSwitch()]);
    } finally {
      await server.stop();
    }
    const sorted = [...health].sort((a, b) => a - b);
    const over100 = health.filter((ms) => ms > 100).reduce((sum, ms) => sum + ms, 0);
    console.log(`${projection} rebuilt beside its old rows on ${path.basename(dataset.dataDir)} (${dataset.events} events)`);
    console.log(`  ready again after  ${((performance.now() - began) / 1000).toFixed(1)} s from the API's spawn`);
    console.log(
      `  /healthz           ${health.length} answers, p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms, longest ${(sorted.at(-1) ?? 0).toFixed(0)} ms, over 100 ms ${(over100 / 1000).toFixed(2)} s in all`,
    );
    console.log(`  captures           ${captures.length} made, ${failedCaptures} failed, longest ${(Math.max(0, ...captures) / 1000).toFixed(2)} s`);
  } finally {
    served.remove();
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

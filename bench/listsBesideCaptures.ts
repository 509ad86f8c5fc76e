/**
 * `npm run bench:lists`: what one user paging through a long list costs everyone else. On a copy
 * of the insights bench's history (`BENCH_LEADS`, 114,000 leads by default; generated when
 * missing, as the insights bench does), the built API (`npm run build`, as `npm start` runs it):
 * `BENCH_WRITE_CONNECTIONS` (10) connections capture leads for `BENCH_DURATION` (10) seconds,
 * alone, then beside one connection asking a list page with its `totalCount` over and over (each
 * connection a closed loop). Printed for each phase: the list's asks and latency, the captures'
 * rate and latency meanwhile, and the seconds the API's main thread spent on a core.
 *
 * `BENCH_LISTS` (comma-separated words) keeps the lists whose names hold one of them.
 * `BENCH_STORE=postgres` does the same on the PostgreSQL history of `npm run bench -- --only
 * insightsPostgres` (a copy of its database, generated when missing).
 * With `BENCH_BASE_TREE` (a checkout of another revision, built with `npm run build`), each phase
 * runs on that tree's API too, alternated with this one's, `BENCH_ROUNDS` (2) rounds each, on the
 * same copy of the history (each capture adds a lead to it: a few thousand beside 114,000).
 */
import path from 'node:path';
import { mintToken } from '../src/identity/jwt';
import { BUILT_ENTRY, buildOnce, captureLeadBody } from './httpCaptureLead';
import { envNumber, percentile } from './harness';
import { insightsSettingsFromEnv, SECRET } from './insights';
import { servedHistory } from './insightsPostgres';
import { DEFAULT_SALES_TEAM } from '../src/seeding/data';

const { leads, seed, writeConnections: writers, durationSec } = insightsSettingsFromEnv(envNumber);
const rounds = envNumber('BENCH_ROUNDS', 2, 1);

const NODES = 'totalCount edges { node { id } }';
const restatements = (from: string, to: string, since: string) =>
  `{ kpiRestatements(from: "${from}T00:00:00Z", to: "${to}T00:00:00Z", since: "${since}T00:00:00Z") { restatements { eventId changes { figure before after } } } }`;
/** The list pages asked, each with its count: those whose count grows with the history first. */
const lists: Record<string, (correlationId: string) => string> = {
  'leads(first: 20), every lead': () => `{ leads(first: 20) { ${NODES} } }`,
  'leads(filter: { status: DISQUALIFIED })': () => `{ leads(filter: { status: DISQUALIFIED }, first: 20) { ${NODES} } }`,
  'leads(filter: status, owner), the insights readers\'': () =>
    `{ leads(filter: { status: QUALIFIED, ownerId: "${DEFAULT_SALES_TEAM[2]}" }, first: 20) { ${NODES} } }`,
  'leads(filter: { campaign }), a campaign no lead has': () => `{ leads(filter: { campaign: "no-such-campaign" }, first: 20) { ${NODES} } }`,
  'auditTrail(first: 20), the whole trail': () => `{ auditTrail(first: 20) { totalCount edges { node { id type } } } }`,
  'auditTrail(filter: { correlationId })': (correlationId) =>
    `{ auditTrail(filter: { correlationId: "${correlationId}" }, first: 20) { totalCount edges { node { id type } } } }`,
  // Restatements as an auditor asks them: their first page (before they were paged, all of them).
  'kpiRestatements, 2025 Q1 since it ended': () => restatements('2025-01-01', '2025-04-01', '2025-04-01'),
  'kpiRestatements, 2025 since its middle': () => restatements('2025-01-01', '2026-01-01', '2025-07-01'),
  // Not a list: the KPIs of the whole history by replaying the whole log, as an analyst asks them.
  'retrospective, the whole history': () => `{ retrospective(from: "2025-01-01T00:00:00Z", to: "2028-01-01T00:00:00Z") { eventsReplayed leadFunnel { captured } } }`,
};

interface Phase {
  list: number[];
  captures: number[];
  mainThreadSeconds?: number;
  failures: string[];
}

const main = async () => {
  const { base, start, remove } = await servedHistory(process.env.BENCH_STORE ?? 'sqlite', leads, seed);
  try {
    buildOnce();
    const trees: Record<string, string> = { 'this tree': BUILT_ENTRY };
    if (process.env.BENCH_BASE_TREE) trees[`BENCH_BASE_TREE`] = path.resolve(process.env.BENCH_BASE_TREE, 'dist/main.js');
    const url = `${base}/graphql`;
    const token = await mintToken({ sub: 'bench', roles: ['sales', 'sales_manager', 'auditor', 'analyst'] }, new TextEncoder().encode(SECRET));
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const ask = async (query: string, failures: string[]): Promise<Record<string, any>> => {
      const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query }) });
      const body = (await response.json()) as { data?: Record<string, any>; errors?: unknown };
      if (response.status !== 200 || body.errors !== undefined) failures.push(`${response.status} ${JSON.stringify(body.errors).slice(0, 200)}`);
      return body.data ?? {};
    };
    // A correlation id from the middle of the trail: the page goes through the log to find it.
    let correlationId = '';

    const phase = async (listName: string | undefined): Promise<Phase> => {
      const server = await start(`API`, currentEntry);
      try {
        const failures: string[] = [];
        if (correlationId === '') {
          const middle = await ask(`{ auditTrail(first: 1, after: "${Buffer.from(JSON.stringify([500_000])).toString('base64url')}") { edges { node { correlationId } } } }`, failures);
          correlationId = middle.auditTrail?.edges?.[0]?.node?.correlationId ?? 'none';
        }
        const until = performance.now() + durationSec * 1000;
        const list: number[] = [];
        const captures: number[] = [];
        let captured = 0;
        const timed = async (into: number[], body: string) => {
          const sent = performance.now();
          try {
            const response = await fetch(url, { method: 'POST', headers, body });
            const text = await response.text();
            into.push(performance.now() - sent);
            if (response.status !== 200 || text.includes('"errors"')) failures.push(`${response.status} ${text.slice(0, 200)}`);
          } catch (error) {
            // A connection reset (a keep-alive connection the API closed after holding its event
            // loop for seconds) counts as a failure of the phase, not of the bench.
            failures.push(`${(error as Error).message}: ${String((error as { cause?: unknown }).cause)}`);
          }
        };
        const before = server.mainThreadSchedule();
        await Promise.all([
          ...Array.from({ length: writers }, async () => {
            while (performance.now() < until) await timed(captures, captureLeadBody('lists', captured++));
          }),
          ...(listName === undefined
            ? []
            : [
                (async () => {
                  const body = JSON.stringify({ query: lists[listName]!(correlationId) });
                  while (performance.now() < until) await timed(list, body);
                })(),
              ]),
        ]);
        const after = server.mainThreadSchedule();
        return {
          list,
          captures,
          failures,
          mainThreadSeconds: before === undefined || after === undefined ? undefined : after.onCoreSeconds - before.onCoreSeconds,
        };
      } finally {
        await server.stop();
      }
    };

    let currentEntry = BUILT_ENTRY;
    const results = new Map<string, Phase[]>();
    // BENCH_LISTS: only the lists whose names hold one of these (comma-separated) words.
    const only = process.env.BENCH_LISTS?.split(',').map((word) => word.trim());
    const phases: (string | undefined)[] = [undefined, ...Object.keys(lists).filter((name) => only === undefined || only.some((word) => name.includes(word)))];
    for (let round = 0; round < rounds; round++) {
      for (const listName of phases) {
        for (const [tree, entry] of Object.entries(trees)) {
          currentEntry = entry;
          const key = `${listName ?? 'captures alone'}\0${tree}`;
          process.stderr.write(`bench lists: round ${round + 1}/${rounds}, ${tree}: ${listName ?? 'captures alone'}, ${durationSec}s...\n`);
          results.set(key, [...(results.get(key) ?? []), await phase(listName)]);
        }
      }
    }

    const figures = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return `${(sorted.length / durationSec).toFixed(0).padStart(6)} ${percentile(sorted, 0.5).toFixed(1).padStart(7)} ${percentile(sorted, 0.99).toFixed(1).padStart(8)}`;
    };
    console.log(`Beside ${writers} connections capturing leads, ${durationSec} s a phase, ${leads} leads; each round on its own line`);
    console.log(`${'list asked by one connection'.padEnd(52)} ${'tree'.padEnd(16)} ${'list/s'.padStart(6)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(8)}   ${'capt/s'.padStart(6)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(8)}   main thread s   failed`);
    let failed = 0;
    for (const listName of phases) {
      for (const tree of Object.keys(trees)) {
        for (const result of results.get(`${listName ?? 'captures alone'}\0${tree}`) ?? []) {
          failed += result.failures.length;
          const listFigures = listName === undefined ? `${'-'.padStart(6)} ${'-'.padStart(7)} ${'-'.padStart(8)}` : figures(result.list);
          console.log(
            `${(listName ?? 'captures alone').padEnd(52)} ${tree.padEnd(16)} ${listFigures}   ${figures(result.captures)}   ${(result.mainThreadSeconds?.toFixed(1) ?? '?').padStart(13)}   ${String(result.failures.length).padStart(6)}`,
          );
        }
      }
    }
    const firstFailure = [...results.values()].flat().find((result) => result.failures.length > 0)?.failures[0];
    console.log(`${failed} failed${firstFailure === undefined ? '' : `; the first: ${firstFailure}`}`);
    if (failed > 0) process.exitCode = 1;
  } finally {
    await remove();
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

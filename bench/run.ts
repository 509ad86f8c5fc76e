/**
 * npm run bench [-- --only bare,standalone,captureLead,captureLeadPostgres,crud,emmett,insights,insightsPostgres,appends (any of them)]
 *
 * Ends with issue 11's goals, each beside its target, from this run's figures (bench/goals.ts).
 * `standalone` is Apollo on node:http alone (goal 1's baseline); `captureLeadPostgres` runs the
 * API with events and read models in PostgreSQL (goal 2), in a schema dropped after.
 *
 * Measures captureLead over HTTP against the real API and, as a baseline, a bare Apollo Server
 * on the same HTTP stack, each in its own child process so that the load generator (this
 * process) does not share their event loop. On a small machine they still share the CPUs:
 * compare the ratio between the two more than the absolute figures.
 *
 * Env: BENCH_DURATION (seconds per measured run, default 10), BENCH_WARMUP (seconds of load
 * before measuring, default 5), BENCH_CONNECTIONS (default 50), BENCH_ROUNDS (default 1: how
 * many times the load parts run, in alternating order; the table shows each server's median
 * round, and goals 1 and 2 are the median of the ratios within each round). Other env (CRM_EVENT_STORE...)
 * is passed to the API. The insights part (generated history, projection replay, KPI and
 * pipeline query latency) has its own settings: see bench/insights.ts. So has the appends part
 * (events appended per second by each store alone, beside a bare INSERT loop): see bench/appends.ts.
 * The crud and emmett parts are issue 11's peers (bench/peers/): see benchCrud and bench/emmettPeer.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Client } from 'pg';
import { mintToken } from '../src/identity/jwt';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type LoadResult, type LoadSettings, envNumber, freePort, runLoad, runLoadOn, startChild } from './harness';
import { type CaptureLeadResult, benchCaptureLead, captureLeadBody } from './httpCaptureLead';
import { benchEmmett } from './emmettPeer';
import { runAppendsBench } from './appends';
import { LOAD_RATIOS, formatGoals, goalRows, type LoadRound } from './goals';
import { type InsightsResult, benchInsights, formatInsights, insightsSettingsFromEnv } from './insights';
import { type InsightsPostgresResult, benchInsightsPostgres, formatInsightsPostgres } from './insightsPostgres';

const PARTS = ['bare', 'standalone', 'captureLead', 'captureLeadPostgres', 'crud', 'emmett', 'insights', 'insightsPostgres', 'appends'] as const;
type Part = (typeof PARTS)[number];
/** The parts that put a server under load over HTTP, measured in rounds (`BENCH_ROUNDS`). */
const LOAD_PARTS = ['bare', 'standalone', 'captureLead', 'captureLeadPostgres', 'crud', 'emmett'] as const;
type LoadPart = (typeof LOAD_PARTS)[number];
interface LoadRoundResults extends LoadRound {
  bare?: LoadResult;
}

/** One round's requests a second, and the goals' ratios within it. */
const roundSummary = (round: LoadRoundResults): string => {
  const rates = Object.entries(round).map(([part, result]) => `${part} ${(result as LoadResult).requestsPerSec.toFixed(0)}`);
  const ratios = LOAD_RATIOS.flatMap(({ name, of }) => {
    const value = of(round);
    return value === undefined ? [] : [`${name} ${value.toFixed(3)}`];
  });
  return `req/s ${rates.join(', ')}${ratios.length > 0 ? `; ${ratios.join(', ')}` : ''}`;
};

/** An echo mutation on Apollo over express (bareApollo.ts), or on node:http alone (bareApolloStandalone.ts). */
async function benchBare(settings: LoadSettings, warmupSec: number, entry = 'bareApollo.ts'): Promise<LoadResult> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = await startChild(
    'bare Apollo',
    path.join(__dirname, entry),
    { ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'production', PORT: String(port) },
    `${base}/readyz`,
  );
  try {
    const body = (n: number) =>
      JSON.stringify({
        query: 'mutation Echo($input: String!) { echo(input: $input) }',
        variables: { input: `bench ${n}` },
      });
    if (warmupSec > 0) {
      await runLoad(`${base}/graphql`, {}, body, { ...settings, durationSec: warmupSec });
    }
    return await runLoadOn(server, `${base}/graphql`, {}, body, settings);
  } finally {
    await server.stop();
  }
}

/**
 * The plain CRUD peer (bench/peers/crudPostgres.ts) under the same captureLead requests, on the
 * PostgreSQL of DATABASE_URL (the test database by default), in a schema of its own, dropped after.
 */
async function benchCrud(settings: LoadSettings, warmupSec: number): Promise<LoadResult> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const secret = randomBytes(32).toString('hex');
  const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_crud_${randomBytes(4).toString('hex')}`;
  const server = await startChild(
    'plain CRUD peer',
    path.join(__dirname, 'peers', 'crudPostgres.ts'),
    { ...process.env, NODE_ENV: 'production', PORT: String(port), DATABASE_URL: databaseUrl, BENCH_PG_SCHEMA: schema, CRM_JWT_SECRET: secret },
    `${base}/readyz`,
  );
  const client = new Client({ connectionString: databaseUrl });
  try {
    const token = await mintToken({ sub: 'bench', roles: ['sales'] }, new TextEncoder().encode(secret));
    const headers = { authorization: `Bearer ${token}` };
    if (warmupSec > 0) await runLoad(`${base}/graphql`, headers, (n) => captureLeadBody('crud-warmup', n), { ...settings, durationSec: warmupSec });
    return await runLoadOn(server, `${base}/graphql`, headers, (n) => captureLeadBody('crud', n), settings);
  } finally {
    await server.stop();
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => client.end());
  }
}

/** captureLead with events and read models in PostgreSQL (DATABASE_URL, the test database by default), in a schema of its own, dropped after. */
async function benchCaptureLeadPostgres(settings: LoadSettings, warmupSec: number): Promise<CaptureLeadResult> {
  const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_capture_${randomBytes(4).toString('hex')}`;
  try {
    return await benchCaptureLead(settings, warmupSec, {
      CRM_EVENT_STORE: 'postgres',
      CRM_READ_STORE: 'postgres',
      DATABASE_URL: databaseUrl,
      CRM_PG_SCHEMA: schema,
    });
  } finally {
    const client = new Client({ connectionString: databaseUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => client.end());
  }
}

function table(rows: Record<string, LoadResult>): string {
  const columns: [string, (r: LoadResult) => string][] = [
    ['req/s', (r) => r.requestsPerSec.toFixed(0)],
    ['p50 ms', (r) => String(r.latencyP50Ms)],
    ['p99 ms', (r) => String(r.latencyP99Ms)],
    ['server CPU ms/req', (r) => (r.serverCpuMsPerRequest === undefined ? '-' : r.serverCpuMsPerRequest.toFixed(3))],
    ['responses', (r) => String(r.totalResponses)],
    ['non-2xx', (r) => String(r.non2xx)],
    ['with errors', (r) => String(r.errorResponses)],
    ['socket errors', (r) => String(r.socketErrors)],
  ];
  const cells = [
    ['', ...columns.map(([title]) => title)],
    ...Object.entries(rows).map(([name, r]) => [name, ...columns.map(([, cell]) => cell(r))]),
  ];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const align = (cell: string, i: number) =>
    i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!);
  return cells.map((row) => row.map(align).join('  ')).join('\n');
}

async function main(): Promise<boolean> {
  const { values } = parseArgs({ options: { only: { type: 'string' } } });
  const only = values.only?.split(',').map((part) => part.trim());
  if (only !== undefined && !only.every((part) => PARTS.includes(part as Part))) {
    throw new Error(`--only takes one or more of (comma-separated): ${PARTS.join(', ')}`);
  }
  const parts = only ? (only as Part[]) : [...PARTS];
  const settings: LoadSettings = {
    connections: envNumber('BENCH_CONNECTIONS', 50, 1),
    durationSec: envNumber('BENCH_DURATION', 10, 1),
  };
  const warmupSec = envNumber('BENCH_WARMUP', 5, 0);
  const roundCount = envNumber('BENCH_ROUNDS', 1, 1);

  // The load parts, round after round, in alternating order: a machine that speeds up or slows
  // down during a round favours neither end of it. On our shared 2-core machines one part's rate
  // moved by 35-40 % between two runs, which no single round can tell from a change.
  const loadParts = parts.filter((part): part is LoadPart => (LOAD_PARTS as readonly Part[]).includes(part));
  const rounds: LoadRoundResults[] = [];
  for (let index = 0; index < roundCount; index++) {
    const round: LoadRoundResults = {};
    for (const part of index % 2 === 0 ? loadParts : [...loadParts].reverse()) {
      process.stderr.write(
        `bench: ${part}${roundCount > 1 ? ` (round ${index + 1} of ${roundCount})` : ''}, ${settings.connections} connections, ` +
          `${warmupSec}s warm-up + ${settings.durationSec}s...\n`,
      );
      if (part === 'bare') round.bare = await benchBare(settings, warmupSec);
      else if (part === 'standalone') round.standalone = await benchBare(settings, warmupSec, 'bareApolloStandalone.ts');
      else if (part === 'captureLeadPostgres') round.captureLeadPostgres = await benchCaptureLeadPostgres(settings, warmupSec);
      else if (part === 'crud') round.crud = await benchCrud(settings, warmupSec);
      else if (part === 'emmett') round.emmett = await benchEmmett(settings, warmupSec);
      else round.captureLead = await benchCaptureLead(settings, warmupSec);
    }
    rounds.push(round);
    if (roundCount > 1) console.log(`round ${index + 1}: ${roundSummary(round)}`);
  }
  // Each server's median round by requests a second: a run that happened, its latencies its own.
  const medianOf = <R extends LoadResult>(pick: (round: LoadRoundResults) => R | undefined): R | undefined => {
    const measured = rounds.map(pick).filter((result): result is R => result !== undefined);
    return measured.length === 0 ? undefined : [...measured].sort((a, b) => a.requestsPerSec - b.requestsPerSec)[Math.floor(measured.length / 2)];
  };
  const bare = medianOf((round) => round.bare);
  const standalone = medianOf((round) => round.standalone);
  const crud = medianOf((round) => round.crud);
  const emmett = medianOf((round) => round.emmett);
  const captureLead = medianOf((round) => round.captureLead);
  const captureLeadPostgres = medianOf((round) => round.captureLeadPostgres);

  let insights: InsightsResult | undefined;
  let insightsPostgres: InsightsPostgresResult | undefined;
  for (const part of parts) {
    if (part !== 'insights' && part !== 'insightsPostgres' && part !== 'appends') continue;
    process.stderr.write(`bench: ${part}...\n`);
    if (part === 'insights') insights = await benchInsights(insightsSettingsFromEnv(envNumber));
    else if (part === 'insightsPostgres') insightsPostgres = await benchInsightsPostgres(insightsSettingsFromEnv(envNumber));
    // Prints its own table and writes bench/results/appends.json.
    else await runAppendsBench();
  }

  const rows: Record<string, LoadResult> = {};
  if (captureLead) rows[`captureLead (${captureLead.store ?? 'default store'})`] = captureLead;
  if (captureLeadPostgres) rows[`captureLead (${captureLeadPostgres.store ?? 'postgres'})`] = captureLeadPostgres;
  if (crud) rows['plain CRUD peer (Apollo + one PostgreSQL INSERT)'] = crud;
  if (emmett) rows['Emmett 0.42 peer (PostgreSQL event store, one inline projection)'] = emmett;
  if (bare) rows['bare Apollo echo (express)'] = bare;
  if (standalone) rows['bare Apollo echo (standalone, node:http)'] = standalone;
  if (Object.keys(rows).length > 0) console.log(`\n${table(rows)}\n`);
  if (insights) console.log(`\n${formatInsights(insights)}\n`);
  if (insightsPostgres) console.log(`\n${formatInsightsPostgres(insightsPostgres)}\n`);

  // Each of our runs beside the peers, named by the store it ran on: the goals differ by store, and
  // a ratio of ours on SQLite to the Emmett peer is no goal at all (it used to be printed as one).
  for (const ours of [captureLead, captureLeadPostgres]) {
    if (!ours) continue;
    const store = ours.store ?? 'default store';
    if (crud) {
      const goal = store === 'sqlite' ? '2x' : store === 'postgres' ? '0.8x' : 'none for this store';
      console.log(`captureLead on ${store} / plain CRUD peer: req/s ${(ours.requestsPerSec / crud.requestsPerSec).toFixed(3)} (issue 11 goal: ${goal})`);
    }
    if (emmett && store === 'postgres') {
      console.log(`captureLead on postgres / Emmett peer: req/s ${(ours.requestsPerSec / emmett.requestsPerSec).toFixed(3)} (issue 11 goal: 1.5x)`);
    }
  }
  // Every round's, not only the median's.
  let healthy = rounds.flatMap((round) => Object.values(round) as LoadResult[]).every(
    (r) => r.non2xx === 0 && r.errorResponses === 0 && r.socketErrors === 0,
  );
  for (const measured of [insights, insightsPostgres]) {
    if (!measured) continue;
    healthy &&= Object.values(measured.queries).every(
      (q) => 'missing' in q || (q.non2xx === 0 && q.errorResponses === 0 && q.socketErrors === 0),
    );
  }
  // Every round's answers must add up, not only the median's.
  const leadChecks = [];
  const emmettLeadChecks = [];
  for (const [index, round] of rounds.entries()) {
    const which = roundCount > 1 ? ` (round ${index + 1})` : '';
    if (round.captureLead) {
      // autocannon drops the requests still in flight when time is up; the server may still
      // complete them, so up to one lead per connection more than the responses is expected.
      const { leadsCaptured, successfulResponses } = round.captureLead;
      const extra = leadsCaptured - successfulResponses;
      const consistent = extra >= 0 && extra <= settings.connections;
      healthy &&= consistent;
      leadChecks.push({ store: round.captureLead.store, leadsCaptured, successfulResponses, consistent });
      console.log(
        `leads captured${which} (leads.totalCount delta): ${leadsCaptured}; ` +
          `successful responses: ${successfulResponses} ` +
          (consistent ? '(consistent)' : '(MISMATCH)'),
      );
    }
    if (round.captureLeadPostgres) {
      const { leadsCaptured, successfulResponses } = round.captureLeadPostgres;
      const extra = leadsCaptured - successfulResponses;
      const consistent = extra >= 0 && extra <= settings.connections;
      healthy &&= consistent;
      leadChecks.push({ store: 'postgres', leadsCaptured, successfulResponses, consistent });
      console.log(
        `PostgreSQL${which}: leads captured ${leadsCaptured}; successful responses ${successfulResponses} ${consistent ? '(consistent)' : '(MISMATCH)'}`,
      );
    }
    if (round.emmett) {
      // As for ours: up to one lead per connection more than the responses, and a read model row
      // for every LeadCaptured event (the projection runs in the transaction of the append).
      const { leadsInReadModel, leadCapturedEvents, successfulResponses } = round.emmett;
      const extra = leadsInReadModel - successfulResponses;
      const consistent = leadsInReadModel === leadCapturedEvents && extra >= 0 && extra <= settings.connections;
      healthy &&= consistent;
      emmettLeadChecks.push({ leadsInReadModel, leadCapturedEvents, successfulResponses, consistent });
      console.log(
        `Emmett peer${which}: leads in its read model ${leadsInReadModel}, LeadCaptured events ${leadCapturedEvents}, ` +
          `successful responses ${successfulResponses} ${consistent ? '(consistent)' : '(MISMATCH)'}`,
      );
    }
  }
  let ratios;
  if (captureLead && bare) {
    ratios = {
      requestsPerSec: captureLead.requestsPerSec / bare.requestsPerSec,
      latencyP99: captureLead.latencyP99Ms / bare.latencyP99Ms,
    };
    console.log(
      `captureLead / bare: req/s ${ratios.requestsPerSec.toFixed(3)}, ` +
        `p99 ${ratios.latencyP99.toFixed(2)}`,
    );
  }
  const goals = goalRows({
    captureLead,
    captureLeadPostgres,
    standalone,
    crud,
    emmett,
    insights,
    insightsPostgres,
    connections: settings.connections,
    ...(roundCount > 1 ? { rounds } : {}),
  });
  if (roundCount > 1 && loadParts.length > 0) {
    console.log(`\nThe table above: each server's median round by req/s. Goals 1 and 2 below: the median of the ${roundCount} rounds' own ratios and p99s.`);
  }
  console.log(`\n${formatGoals(goals)}\n`);
  if (!healthy) console.log('WARNING: some requests failed; the figures do not measure success.');

  const file = path.join(__dirname, 'results', 'latest.json');
  mkdirSync(path.dirname(file), { recursive: true });
  const report = {
    at: new Date().toISOString(),
    machine: {
      node: process.version,
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      loadavg: os.loadavg(),
    },
    settings: { ...settings, warmupSec, parts, rounds: roundCount },
    results: { captureLead, captureLeadPostgres, bare, standalone, crud, emmett, insights, insightsPostgres },
    ...(roundCount > 1 ? { rounds } : {}),
    goals,
    leadChecks,
    emmettLeadChecks,
    ratios,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`written to ${path.relative(process.cwd(), file)}`);
  return healthy;
}

main().then(
  (healthy) => {
    process.exitCode = healthy ? 0 : 1;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);

/**
 * `npm run bench:notifications`: how long a client waits for a change to be pushed to it.
 * Starts the API as `npm start` would (a child process, SQLite by default, or the stores the
 * environment names), connects BENCH_SUBSCRIBERS (200) graphql-ws clients subscribed to
 * `leadChanged`, then captures leads at BENCH_RATE per second (50) for BENCH_DURATION seconds
 * (10) while a write load of BENCH_CONNECTIONS (10) other clients keeps capturing as fast as it
 * can. For each lead of the paced writer it measures, per subscriber, the delay from the
 * mutation's answer to the notification's arrival, and prints p50, p99 and max, and how many
 * notifications were expected and received. Then it imports BENCH_IMPORT_ROWS (5,000) leads
 * with `npm run import` and prints the import's leads/s.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { mintToken } from '../src/identity/jwt';
import { freePort, startChild } from './harness';
import { captureLeadBody, MAIN_ENTRY } from './httpCaptureLead';

const setting = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number`);
  return value;
};

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function main() {
  const subscribers = setting('BENCH_SUBSCRIBERS', 200);
  const rate = setting('BENCH_RATE', 50);
  const durationSec = setting('BENCH_DURATION', 10);
  const loadConnections = setting('BENCH_CONNECTIONS', 10);
  const importRows = setting('BENCH_IMPORT_ROWS', 5_000);

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'crm-bench-live-'));
  const secret = randomBytes(32).toString('hex');
  const dataKey = process.env.CRM_DATA_KEY ?? randomBytes(32).toString('hex');
  const env = { ...process.env, NODE_ENV: 'production', PORT: String(port), CRM_DATA_DIR: dataDir, CRM_JWT_SECRET: secret, CRM_DATA_KEY: dataKey };
  const server = await startChild('API (src/main.ts)', MAIN_ENTRY, env, `${base}/readyz`);
  const clients: Client[] = [];
  try {
    const token = await mintToken({ sub: 'bench', roles: ['admin'] }, new TextEncoder().encode(secret));
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const capture = async (phase: string, n: number): Promise<string> => {
      const response = await fetch(`${base}/graphql`, { method: 'POST', headers, body: captureLeadBody(phase, n) });
      const body = (await response.json()) as { data?: { captureLead: { lead: { id: string } } }; errors?: unknown };
      if (!body.data) throw new Error(`captureLead failed: ${JSON.stringify(body.errors)}`);
      return body.data.captureLead.lead.id;
    };

    // Subscribers: each notes when each paced lead reaches it: its capture, then its score (the
    // lead scorer records it right after, and the lead changes again).
    const arrivals = new Map<string, number[]>();
    const scoreArrivals = new Map<string, number[]>();
    let received = 0;
    await Promise.all(
      Array.from({ length: subscribers }, async () => {
        const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
        clients.push(client);
        await new Promise<void>((resolve, reject) => {
          client.subscribe<{ leadChanged: { eventType: string; lead: { id: string } } }>(
            { query: 'subscription { leadChanged(filter: { campaign: "paced" }) { eventType lead { id } } }' },
            {
              next: ({ data }) => {
                received++;
                const id = data?.leadChanged.lead.id;
                const into = data?.leadChanged.eventType === 'LeadCaptured' ? arrivals : scoreArrivals;
                if (id) (into.get(id) ?? into.set(id, []).get(id)!).push(performance.now());
              },
              error: reject,
              complete: () => undefined,
            },
          );
          client.on('connected', () => resolve());
        });
      }),
    );
    process.stderr.write(`bench notifications: ${subscribers} subscribers connected; writing...\n`);

    // A background write load, and the paced writer whose leads are measured.
    let loading = true;
    const load = Array.from({ length: loadConnections }, async (_, worker) => {
      for (let n = 0; loading; n++) await capture(`load-${worker}`, n);
    });
    const answeredAt = new Map<string, number>();
    const pacedBody = (n: number) => {
      const body = JSON.parse(captureLeadBody('paced', n)) as { variables: { input: Record<string, unknown> } };
      body.variables.input.campaign = 'paced';
      return JSON.stringify(body);
    };
    const started = performance.now();
    const paced: Promise<void>[] = [];
    for (let n = 0; performance.now() - started < durationSec * 1000; n++) {
      paced.push(
        (async () => {
          const response = await fetch(`${base}/graphql`, { method: 'POST', headers, body: pacedBody(n) });
          const body = (await response.json()) as { data: { captureLead: { lead: { id: string } } } };
          answeredAt.set(body.data.captureLead.lead.id, performance.now());
        })(),
      );
      await new Promise((resolve) => setTimeout(resolve, 1000 / rate));
    }
    await Promise.all(paced);
    loading = false;
    await Promise.all(load);
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    const delaysOf = (from: Map<string, number[]>) => {
      const delays: number[] = [];
      for (const [id, answered] of answeredAt) for (const arrived of from.get(id) ?? []) delays.push(Math.max(0, arrived - answered));
      return delays.sort((a, b) => a - b);
    };
    const delays = delaysOf(arrivals);
    const scoreDelays = delaysOf(scoreArrivals);
    const expected = answeredAt.size * subscribers;
    console.log(
      `notifications: ${answeredAt.size} paced leads x ${subscribers} subscribers, under a write load of ${loadConnections} connections: ` +
        `delay from the mutation's answer to delivery of its change (LeadCaptured) p50 ${percentile(delays, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(delays, 99).toFixed(1)} ms, max ${(delays.at(-1) ?? NaN).toFixed(1)} ms; ${delays.length}/${expected} delivered. ` +
        `Then the lead's score (LeadRescored, from the lead scorer): p50 ${percentile(scoreDelays, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(scoreDelays, 99).toFixed(1)} ms after the answer; ${scoreDelays.length} delivered (${received} notifications in all)`,
    );
  } finally {
    await Promise.all(clients.map((client) => client.dispose()));
    await server.stop();
  }

  // Import throughput, by the command an operator runs, on a fresh data directory.
  if (importRows > 0) {
    const importDir = mkdtempSync(path.join(tmpdir(), 'crm-bench-import-'));
    try {
      const file = path.join(importDir, 'leads.csv');
      const lines = ['First name,Last name,Email,Company,Source'];
      for (let n = 0; n < importRows; n++) lines.push(`Name${n},Surname${n},person${n}@example.com,Company ${n % 500},TRADE_FAIR`);
      writeFileSync(file, `${lines.join('\n')}\n`);
      const started = performance.now();
      await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'src', 'cli', 'importLeads.ts'), file], {
        env: { ...process.env, CRM_DATA_DIR: path.join(importDir, 'data'), CRM_DATA_KEY: dataKey },
      });
      const seconds = (performance.now() - started) / 1000;
      console.log(`import: ${importRows} leads in ${seconds.toFixed(1)} s (${Math.round(importRows / seconds)} leads/s), process start included`);
    } finally {
      rmSync(importDir, { recursive: true, force: true });
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

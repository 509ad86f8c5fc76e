/**
 * The emmett part of `npm run bench` (issue 11): the Emmett peer (bench/peers/emmett) under the
 * same captureLead requests as ours, on a PostgreSQL database of its own, created for the run
 * and dropped after. Its packages are installed apart, on first use.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { mintToken } from '../src/identity/jwt';
import { type LoadResult, type LoadSettings, freePort, runLoad, runLoadOn, startChild } from './harness';
import { captureLeadBody } from './httpCaptureLead';

const PEER_DIR = path.join(__dirname, 'peers', 'emmett');
/** The peer's read model (LEAD_DETAILS_COLLECTION in bench/peers/emmett/emmettPostgres.ts): a Pongo collection, one row per lead. */
const READ_MODEL_TABLE = 'lead_details';

export interface EmmettResult extends LoadResult {
  /** Rows the measured run added to the peer's read model. */
  leadsInReadModel: number;
  /** LeadCaptured events the measured run appended: each must have its row. */
  leadCapturedEvents: number;
  /** 2xx responses without GraphQL errors. */
  successfulResponses: number;
}

/**
 * `npm ci` of bench/peers/emmett when its packages are missing or older than its lockfile. They
 * are not in our package.json: Emmett 0.42 wants uuid ^10 as a peer, and we use uuid 11.
 */
function installPeerPackages(): void {
  const installed = path.join(PEER_DIR, 'node_modules', '.package-lock.json');
  const lockfile = path.join(PEER_DIR, 'package-lock.json');
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lockfile).mtimeMs) return;
  process.stderr.write(
    "bench: installing the Emmett peer's own packages (npm ci --prefix bench/peers/emmett), once; " +
      'they are kept apart from ours because Emmett 0.42 wants uuid 10 and we use uuid 11\n',
  );
  // npm's output goes to stderr: stdout carries the bench's tables.
  const npm = spawnSync('npm', ['ci', '--prefix', PEER_DIR, '--no-audit', '--no-fund'], { stdio: ['ignore', 2, 2] });
  if (npm.status !== 0) {
    throw new Error(`npm ci --prefix bench/peers/emmett failed (${npm.error?.message ?? `exit ${npm.status ?? npm.signal}`}): the emmett part needs the npm registry the first time`);
  }
}

/** The read model's row count and the LeadCaptured events, once both stop moving (requests cut off at the end of a run may still be completing). */
async function countLeads(client: Client): Promise<{ rows: number; events: number }> {
  const countNow = async () => {
    const { rows } = await client.query<{ rows: string; events: string }>(
      `SELECT (SELECT count(*) FROM ${READ_MODEL_TABLE}) AS rows,
              (SELECT count(*) FROM emt_messages WHERE message_type = 'LeadCaptured') AS events`,
    );
    return { rows: Number(rows[0]!.rows), events: Number(rows[0]!.events) };
  };
  let previous = await countNow();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const current = await countNow();
    if (current.rows === previous.rows && current.events === previous.events) return current;
    previous = current;
  }
}

/** One captureLead, then its row read straight from the read model: the mutation must not answer before the row is there. */
async function checkReadModelHasLeadWhenAnswered(url: string, headers: Record<string, string>, client: Client): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: captureLeadBody('emmett-check', 0),
  });
  const body = (await response.json()) as { data?: { captureLead?: { lead?: { id?: string; revision?: number; status?: string } } } };
  const lead = body.data?.captureLead?.lead;
  if (!lead?.id || lead.revision !== 0 || lead.status !== 'NEW') {
    throw new Error(`Emmett peer: captureLead answered ${JSON.stringify(body)}`);
  }
  const { rows } = await client.query<{ data: { revision?: number; person?: { lastName?: string } } }>(
    `SELECT data FROM ${READ_MODEL_TABLE} WHERE _id = $1`,
    [lead.id],
  );
  const row = rows[0]?.data;
  if (row?.revision !== 0 || row.person?.lastName !== 'Bench emmett-check 0') {
    throw new Error(`Emmett peer: lead ${lead.id} answered but its read model row is ${JSON.stringify(row)}`);
  }
}

export async function benchEmmett(settings: LoadSettings, warmupSec: number): Promise<EmmettResult> {
  installPeerPackages();
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const database = `bench_emmett_${randomBytes(4).toString('hex')}`;
  const databaseUrl = new URL(serverUrl);
  databaseUrl.pathname = `/${database}`;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${database}`);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const secret = randomBytes(32).toString('hex');
    const server = await startChild(
      'Emmett peer',
      path.join(PEER_DIR, 'emmettPostgres.ts'),
      { ...process.env, NODE_ENV: 'production', PORT: String(port), DATABASE_URL: databaseUrl.toString(), CRM_JWT_SECRET: secret },
      `${base}/readyz`,
    );
    const client = new Client({ connectionString: databaseUrl.toString() });
    await client.connect();
    try {
      const url = `${base}/graphql`;
      const token = await mintToken({ sub: 'bench', roles: ['sales'] }, new TextEncoder().encode(secret));
      const headers = { authorization: `Bearer ${token}` };
      await checkReadModelHasLeadWhenAnswered(url, headers, client);
      if (warmupSec > 0) await runLoad(url, headers, (n) => captureLeadBody('emmett-warmup', n), { ...settings, durationSec: warmupSec });
      const before = await countLeads(client);
      const load = await runLoadOn(server, url, headers, (n) => captureLeadBody('emmett', n), settings);
      const after = await countLeads(client);
      return {
        ...load,
        leadsInReadModel: after.rows - before.rows,
        leadCapturedEvents: after.events - before.events,
        successfulResponses: load.ok2xx - load.errorResponses,
      };
    } finally {
      await client.end();
      await server.stop();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).finally(() => admin.end());
  }
}

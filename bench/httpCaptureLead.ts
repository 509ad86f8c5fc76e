/**
 * captureLead over HTTP against the real API, started as `npm start` starts it (`npm run build`,
 * then `node dist/main.js`, the bundle, configured by env) in a child process with a fresh data
 * directory. (Until de5e548 it ran src/main.ts through tsx, which served 0.86× to 0.99× of the
 * bundle's requests per second in three alternating rounds: compare with older figures knowing it.)
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mintToken } from '../src/identity/jwt';
import {
  type LoadResult,
  type LoadSettings,
  freePort,
  graphql,
  runLoad,
  runLoadOn,
  startChild,
} from './harness';

export const MAIN_ENTRY = path.join(__dirname, '..', 'src', 'main.ts');
/** What `npm start` runs, once `npm run build` has compiled and bundled it. */
export const BUILT_ENTRY = path.join(__dirname, '..', 'dist', 'main.js');

let built = false;
/** `npm run build`, once per bench run: the benches that start the API start it as `npm start` does. */
export const buildOnce = (): void => {
  if (built) return;
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: path.join(__dirname, '..'), stdio: 'inherit' });
  built = true;
};

const CAPTURE_LEAD = `mutation CaptureLead($input: CaptureLeadInput!) {
  captureLead(input: $input) { lead { id revision status } }
}`;

/** Every lead is a different person, so that duplicate detection has no reason to refuse one. */
export function captureLeadBody(phase: string, n: number): string {
  return JSON.stringify({
    query: CAPTURE_LEAD,
    variables: {
      input: {
        source: 'WEB_FORM',
        person: { lastName: `Bench ${phase} ${n}`, email: `bench-${phase}-${n}@example.com` },
        company: { name: 'Acme' },
      },
    },
  });
}

export interface CaptureLeadResult extends LoadResult {
  /** The event store the API reported on /readyz. */
  store?: string;
  /** Leads the API counts after the measured run minus before it. */
  leadsCaptured: number;
  /** 2xx responses without GraphQL errors: what leadsCaptured should match. */
  successfulResponses: number;
}

/** `env`: settings for the API on top of this process's environment (another store, say). */
export async function benchCaptureLead(
  settings: LoadSettings,
  warmupSec: number,
  env: NodeJS.ProcessEnv = {},
): Promise<CaptureLeadResult> {
  buildOnce();
  if (!existsSync(BUILT_ENTRY)) throw new Error(`${BUILT_ENTRY} was not built`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'crm-bench-'));
  const secret = randomBytes(32).toString('hex');
  const server = await startChild(
    'API (dist/main.js)',
    BUILT_ENTRY,
    {
      ...process.env,
      NODE_ENV: process.env.NODE_ENV ?? 'production',
      PORT: String(port),
      CRM_DATA_DIR: dataDir,
      CRM_JWT_SECRET: secret,
      // Production refuses to start without a master key for personal data.
      CRM_DATA_KEY: process.env.CRM_DATA_KEY ?? randomBytes(32).toString('hex'),
      ...env,
    },
    `${base}/readyz`,
  );
  try {
    const url = `${base}/graphql`;
    const token = await mintToken(
      { sub: 'bench', roles: ['sales'] },
      new TextEncoder().encode(secret),
    );
    const headers = { authorization: `Bearer ${token}` };
    const store = await fetch(`${base}/readyz`)
      .then((response) => response.json() as Promise<{ store?: string }>)
      .then((body) => body.store, () => undefined);
    if (warmupSec > 0) {
      await runLoad(url, headers, (n) => captureLeadBody('warmup', n), {
        ...settings,
        durationSec: warmupSec,
      });
    }
    const before = await countLeads(url, headers);
    const load = await runLoadOn(server, url, headers, (n) => captureLeadBody('run', n), settings);
    const after = await countLeads(url, headers);
    return {
      store,
      ...load,
      leadsCaptured: after - before,
      successfulResponses: load.ok2xx - load.errorResponses,
    };
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Counts once the count stops moving: requests cut off when a load run ends may still be
 * completing on the server, and must not be attributed to the next run.
 */
async function countLeads(url: string, headers: Record<string, string>): Promise<number> {
  let previous = await countLeadsNow(url, headers);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const current = await countLeadsNow(url, headers);
    if (current === previous) return current;
    previous = current;
  }
}

async function countLeadsNow(url: string, headers: Record<string, string>): Promise<number> {
  const response = await graphql(url, '{ leads { totalCount } }', headers);
  const leads = response.data?.leads as { totalCount?: unknown } | undefined;
  if (typeof leads?.totalCount !== 'number') {
    throw new Error(`leads { totalCount } failed: ${JSON.stringify(response)}`);
  }
  return leads.totalCount;
}

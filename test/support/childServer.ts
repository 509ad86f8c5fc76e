import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { onTestFinished } from 'vitest';
import { TEST_DATA_KEY, TEST_SECRET } from './testServer';

/** For instances of one test that share a database but not a data directory. */
export const SHARED_DATA_KEY = { CRM_DATA_KEY: TEST_DATA_KEY };

/**
 * A fresh data directory under the system's temporary directory, removed when the calling test
 * finishes (its servers stopped or killed by then): a crash test's directory holds a SQLite file
 * of its own, and each run used to leave one behind.
 */
export const dataDirForThisTest = (prefix: string): string => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), prefix));
  onTestFinished(() => rmSync(dataDir, { recursive: true, force: true }));
  return dataDir;
};

export interface ChildServer {
  url: string;
  /** Resolves when the process ends, with the signal that ended it, if any. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  kill(signal?: NodeJS.Signals): void;
}

export interface FinishedProcess {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

/**
 * Which code a child server runs: `src/main.ts` through tsx (the source as it is, no build), or
 * `dist/main.js`, the bundle `npm run build` makes and `npm start` runs (build it first).
 */
export type ServerEntry = 'source' | 'built';

const ROOT = path.join(__dirname, '..', '..');
export const BUILT_ENTRY = path.join(ROOT, 'dist', 'main.js');

/**
 * The API's entry point with exactly this environment on top of the test's own. Like an
 * in-process test server, it uses the development master key of its data directory unless the
 * test passes CRM_DATA_KEY (instances with data directories of their own sharing a database must:
 * `SHARED_DATA_KEY`).
 */
const spawnMain = (env: NodeJS.ProcessEnv, entry: ServerEntry = 'source'): ChildProcessByStdio<null, Readable, Readable> =>
  spawn(process.execPath, entry === 'built' ? [BUILT_ENTRY] : ['--import', 'tsx', path.join(ROOT, 'src', 'main.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

/** Runs `src/main.ts` until it exits by itself, as an operator with a broken setting would. */
export const runMainUntilExit = (env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<FinishedProcess> =>
  new Promise((resolve, reject) => {
    const child = spawnMain(env);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`src/main.ts still running after ${timeoutMs} ms:\n${stdout}${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });

/**
 * `npm start`'s entry point in a process of its own, so that a test can kill it mid-request.
 * `env` adds to the test's environment (stores, URLs); port, host, data directory and secret
 * are the test's.
 */
export const startChildServer = async (dataDir: string, env: NodeJS.ProcessEnv = {}, entry: ServerEntry = 'source'): Promise<ChildServer> => {
  const port = await freePort();
  const child = spawnMain({ ...env, PORT: String(port), HOST: '127.0.0.1', CRM_DATA_DIR: dataDir, CRM_JWT_SECRET: TEST_SECRET }, entry);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let ended = false;
  void exited.then(() => (ended = true));

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (ended) throw new Error(`server exited before it was ready:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server not ready within 60 s:\n${output}`);
    }
    const ready = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url: `${base}/graphql`, exited, output: () => output, kill: (signal = 'SIGTERM') => child.kill(signal) };
};

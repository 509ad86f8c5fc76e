/** What bench/run.ts needs to start servers as child processes and put load on them. */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import net from 'node:net';

export interface LoadSettings {
  connections: number;
  durationSec: number;
}

export interface LoadResult {
  requestsPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  totalResponses: number;
  ok2xx: number;
  non2xx: number;
  /** Responses with status 2xx whose body still carries a GraphQL `errors` entry. */
  errorResponses: number;
  /** Connection errors and timeouts: the request got no HTTP response at all. */
  socketErrors: number;
  /** The first few failed answers (status and the start of the body), to say why. */
  failures?: string[];
  /**
   * CPU time the server process (all its threads) spent per response during the measured run:
   * steadier than req/s on a shared machine, where the load generator and other work compete for
   * the same cores. Absent where /proc is not available.
   */
  serverCpuMsPerRequest?: number;
}

// autocannon ships no types; this is the part of its API the bench uses.
interface AutocannonRequest {
  method: string;
  headers: Record<string, string>;
  body?: string;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
  onResponse?: (status: number, body: string) => void;
}
interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;
const autocannon = require('autocannon') as Autocannon;

/**
 * Puts `settings.connections` concurrent keep-alive connections on `url`, each sending POSTs
 * whose body is built per request by `body(n)` (n counts from 0 across all connections).
 */
export async function runLoad(
  url: string,
  headers: Record<string, string>,
  body: (n: number) => string,
  settings: LoadSettings,
): Promise<LoadResult> {
  let sent = 0;
  let errorResponses = 0;
  const failures: string[] = [];
  const result = await autocannon({
    url,
    connections: settings.connections,
    duration: settings.durationSec,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        setupRequest: (request) => ({ ...request, body: body(sent++) }),
        onResponse: (status, text) => {
          const failed = status >= 300 || text.includes('"errors"');
          if (status < 300 && failed) errorResponses += 1;
          if (failed && failures.length < 3) failures.push(`${status} ${text.slice(0, 300)}`);
        },
      },
    ],
  });
  return {
    requestsPerSec: result.requests.average,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    totalResponses: result['2xx'] + result.non2xx,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    errorResponses,
    socketErrors: result.errors + result.timeouts,
    ...(failures.length > 0 ? { failures } : {}),
  };
}

/** The middle value of a bench's rounds (the upper middle of an even count). */
export const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** A bench setting from the environment (`BENCH_…`), or its default; refused below `min`. */
export function envNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number >= ${min}`);
  return value;
}

/** The value below which `share` (0 to 1) of the sorted latencies fall; NaN when there are none. */
export const percentile = (sorted: readonly number[], share: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] ?? NaN;

/** Asks the OS for a port nobody listens on. Another process could take it before the child
 * binds it, which only makes the child fail to start, loudly. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

// Children must not outlive the bench, whichever way it ends.
const children = new Set<ChildProcess>();
process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')));

export interface ChildServer {
  stop(): Promise<void>;
  /** CPU seconds (user + system) the child has used so far, or undefined without /proc. */
  cpuSeconds(): number | undefined;
  /** Resident memory of the child now, in MiB, or undefined without /proc. */
  rssMiB(): number | undefined;
  /** Its main thread's time so far on a core and runnable but waiting for one, or undefined without /proc. */
  mainThreadSchedule(): ThreadSchedule | undefined;
  /** From spawning the child to its first 200 on the ready URL (polled every 50 ms). */
  readyMs: number;
}

export function processRssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) / 1024;
  } catch {
    return undefined;
  }
}

/** Seconds a thread has run on a core, and been runnable but waiting for one (Linux's schedstat). */
export interface ThreadSchedule {
  onCoreSeconds: number;
  waitingSeconds: number;
}

/**
 * The main thread's schedule of process `pid` (its thread id is the pid): a thread that never
 * waits for a core yet answers slowly is busy itself; one that waits shares the cores with others.
 */
export function mainThreadSchedule(pid: number | undefined): ThreadSchedule | undefined {
  if (pid === undefined) return undefined;
  try {
    const [onCore, waiting] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return { onCoreSeconds: onCore! / 1e9, waitingSeconds: waiting! / 1e9 };
  } catch {
    return undefined;
  }
}

/** Linux counts a process's CPU in clock ticks, USER_HZ, which is 100 on every Linux we run on. */
const TICKS_PER_SECOND = 100;

export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Runs the load and adds the server's CPU time per response over exactly that run. */
export async function runLoadOn(
  server: ChildServer,
  ...load: Parameters<typeof runLoad>
): Promise<LoadResult> {
  const before = server.cpuSeconds();
  const result = await runLoad(...load);
  const after = server.cpuSeconds();
  if (before === undefined || after === undefined || result.totalResponses === 0) return result;
  return { ...result, serverCpuMsPerRequest: ((after - before) * 1000) / result.totalResponses };
}

/**
 * Starts `node --import tsx <entry>` (a `.js` entry: `node <entry>`, as `npm start` runs the
 * built server) and resolves once `readyUrl` answers 200. The child's
 * output is kept (last lines only) and shown if it dies or never gets ready. With
 * BENCH_PROFILE_DIR set, the child writes a CPU profile there when it stops (`--cpu-prof`, which
 * NODE_OPTIONS does not take): where a server's time goes under the bench's load. With
 * BENCH_SERVER_NODE_ARGS set (space-separated), the child gets those node flags too.
 */
export async function startChild(
  name: string,
  entry: string,
  env: NodeJS.ProcessEnv,
  readyUrl: string,
  timeoutMs = 90_000,
): Promise<ChildServer> {
  const spawnedAt = performance.now();
  const nodeArgs = [
    ...(process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []),
    ...(process.env.BENCH_SERVER_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? []),
    ...(entry.endsWith('.js') ? [] : ['--import', 'tsx']),
  ];
  const child = spawn(process.execPath, [...nodeArgs, entry], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    if (process.env.BENCH_CHILD_LOG) appendFileSync(process.env.BENCH_CHILD_LOG, chunk);
    tail.push(...chunk.toString().split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 40));
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));

  const stop = async () => {
    if (exitCode === undefined) child.kill('SIGTERM');
    const forced = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(forced);
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(`${name} exited with ${exitCode} before it was ready:\n${tail.join('\n')}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} not ready after ${timeoutMs} ms:\n${tail.join('\n')}`);
    }
    const ready = await fetch(readyUrl, { signal: AbortSignal.timeout(5_000) }).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) {
      return {
        stop,
        cpuSeconds: () => (exitCode === undefined ? processCpuSeconds(child.pid) : undefined),
        rssMiB: () => (exitCode === undefined ? processRssMiB(child.pid) : undefined),
        mainThreadSchedule: () => (exitCode === undefined ? mainThreadSchedule(child.pid) : undefined),
        readyMs: performance.now() - spawnedAt,
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function graphql(
  url: string,
  query: string,
  headers: Record<string, string> = {},
  variables?: Record<string, unknown>,
): Promise<{ data?: Record<string, unknown>; errors?: unknown[] }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
}

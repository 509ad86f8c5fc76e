/**
 * The threads this process starts are profiled with it: `node --cpu-prof` writes a profile for
 * each of them too (the event store's writer, the report and projections' threads, the rebuild's
 * second core), and they get none of the process's other options (tsx's loader).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { threadExecArgv } from './threadRequests';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

describe("a thread's node options", () => {
  it("are the process's profiling options, in either form, and no other", () => {
    expect(
      threadExecArgv(['--require', '/tsx/preflight.cjs', '--import', 'file:///tsx/loader.mjs', '--cpu-prof', '--cpu-prof-dir=/tmp/p', '--max-semi-space-size=128']),
    ).toEqual(['--cpu-prof', '--cpu-prof-dir=/tmp/p']);
    expect(threadExecArgv(['--cpu-prof', '--cpu-prof-dir', '/tmp/p', '--cpu-prof-interval', '500', '--cpu-prof-name', 'x.cpuprofile'])).toEqual([
      '--cpu-prof',
      '--cpu-prof-dir',
      '/tmp/p',
      '--cpu-prof-interval',
      '500',
    ]);
    expect(threadExecArgv(['--import', 'tsx'])).toEqual([]);
  });

  it('make `node --cpu-prof` write the event store writer thread\'s profile beside the main thread\'s', async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-thread-profiles-'));
    directories.push(directory);
    const script = path.join(directory, 'append.ts');
    fs.writeFileSync(
      script,
      `import { openSqliteEventStore } from ${JSON.stringify(path.resolve(__dirname, '../eventStores/sqlite'))};
const store = openSqliteEventStore({ filename: ${JSON.stringify(path.join(directory, 'events.sqlite'))} });
const metadata = { actor: 'a', recordedAt: '2025-01-01T00:00:00.000Z', occurredAt: '2025-01-01T00:00:00.000Z', correlationId: 'c', causationId: 'c', schemaVersion: 1 };
store.appendToStream('lead-1', [{ id: 'e-1', type: 'LeadNoted', data: {}, metadata }], { expectedRevision: 'no_stream' }).then(() => store.close());
`,
    );
    const profiles = path.join(directory, 'profiles');
    // Sampled every 100 us, so that the thread's start (it loads better-sqlite3: milliseconds) is sampled.
    const flags = ['--cpu-prof', `--cpu-prof-dir=${profiles}`, '--cpu-prof-interval=100'];
    await promisify(execFile)(process.execPath, [...flags, '--import', 'tsx', script], { cwd: path.resolve(__dirname, '../..') });
    // CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile: thread 0 is the main thread. Under
    // tsx its loader has a thread of its own too; the writer thread runs its compiled module as
    // code evaluated in the thread ('[worker eval]'), which no other thread here does.
    const byThread = fs.readdirSync(profiles).map((name) => {
      const profile = JSON.parse(fs.readFileSync(path.join(profiles, name), 'utf8')) as { nodes: Array<{ callFrame: { url: string } }> };
      return { thread: Number(name.split('.')[4]), evaluated: profile.nodes.some((node) => node.callFrame.url === '[worker eval]') };
    });
    expect(byThread.map(({ thread }) => thread)).toContain(0);
    expect(byThread.filter(({ thread, evaluated }) => thread > 0 && evaluated)).toHaveLength(1);
  }, 60_000);
});

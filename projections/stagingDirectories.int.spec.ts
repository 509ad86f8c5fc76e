import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UNTOUCHED_FOR_MS, removeOrphanedStagingDirectories, stagingDirectoryPrefix } from './stagingDirectories';
import { temporaryDirectory } from '../test/support/leadEvents';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..');
/** A process of its own that opens a staging database as a rebuild does, prints its file, and closes it unless told to wait. */
const stagingProcess = (thenWait: boolean) => [
  '--import',
  'tsx',
  '-e',
  `const { openStagingDatabase } = require(${JSON.stringify(path.join(ROOT, 'projections', 'sqlDatabase.ts'))});
   const staging = openStagingDatabase();
   staging.db.exec('CREATE TABLE rows (n INTEGER)');
   console.log(staging.file);
   ${thenWait ? 'setInterval(() => {}, 1000);' : 'staging.close();'}`,
];

/** A process of its own that opens `npm run verify`'s scratch database beside `liveFile`, prints its file, and waits. */
const verifyingProcess = (liveFile: string) => [
  '--import',
  'tsx',
  '-e',
  `const { openScratchSpace } = require(${JSON.stringify(path.join(ROOT, 'projections', 'tools', 'scratch.ts'))});
   openScratchSpace({ kind: 'sqlite', filename: ${JSON.stringify(liveFile)} }).then(async (scratch) => {
     await scratch.scratchDb.exec('CREATE TABLE rows (n INTEGER)');
     const [main] = await scratch.scratchDb.all('PRAGMA database_list');
     console.log(main.file);
     setInterval(() => {}, 1000);
   });`,
];

/** Starts `args` as a process, waits for its first line of output, kills it with SIGKILL, and returns that line. */
const killedAfterFirstLine = async (args: string[]): Promise<string> => {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the process ended (${code}) before it printed anything`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  return line;
};

/** The id of a process that has ended. */
const endedPid = async (): Promise<number> => {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
};

describe('staging directories left by a process that died', () => {
  it('are removed by the next process that stages, and one in use is not', async () => {
    // A rebuild killed while it stages (kill -9: nothing of it runs again).
    const file = await killedAfterFirstLine(stagingProcess(true));
    expect(fs.existsSync(file)).toBe(true);

    // One in use by a process that runs (this one), named as a staging directory of this host.
    const inUse = fs.mkdtempSync(path.join(path.dirname(path.dirname(file)), stagingDirectoryPrefix()));
    try {
      const { stdout } = await run(process.execPath, stagingProcess(false), { cwd: ROOT });
      expect(fs.existsSync(stdout.trim())).toBe(false); // its own, removed on close
      expect(fs.existsSync(path.dirname(file))).toBe(false);
      expect(fs.existsSync(inUse)).toBe(true);
    } finally {
      fs.rmSync(inUse, { recursive: true, force: true });
    }
  }, 30_000);

  it("include npm run verify's scratch database, a copy of every read model", async () => {
    const directory = temporaryDirectory();
    try {
      const live = directory.file('crm.sqlite');
      const file = await killedAfterFirstLine(verifyingProcess(live));
      expect(path.basename(path.dirname(file))).toMatch(/^crm-rebuild-/);
      expect(fs.existsSync(file)).toBe(true);
      await run(process.execPath, stagingProcess(false), { cwd: ROOT });
      expect(fs.existsSync(path.dirname(file))).toBe(false);
    } finally {
      directory.remove();
    }
  }, 30_000);

  describe('in a temporary directory', () => {
    let directory: ReturnType<typeof temporaryDirectory>;
    beforeEach(() => {
      directory = temporaryDirectory();
    });
    afterEach(() => directory.remove());

    const NOW = Date.now();
    const make = (name: string, { touchedAgoMs = 0, file = true } = {}) => {
      const full = directory.file(name);
      fs.mkdirSync(full);
      if (file) fs.writeFileSync(path.join(full, 'staging.sqlite'), 'rows');
      const at = new Date(NOW - touchedAgoMs);
      if (file) fs.utimesSync(path.join(full, 'staging.sqlite'), at, at);
      fs.utimesSync(full, at, at);
    };

    it("removes this host's directories of ended processes at once, and any other only once untouched for a day", async () => {
      const dead = await endedPid();
      const day = UNTOUCHED_FOR_MS;
      make(`${stagingDirectoryPrefix(dead)}aB3dE9`);
      make(`${stagingDirectoryPrefix(process.pid)}aB3dE9`, { touchedAgoMs: 2 * day }); // this process: in use
      make(`${stagingDirectoryPrefix(process.ppid)}aB3dE9`, { touchedAgoMs: 2 * day }); // a process that runs
      make(`crm-rebuild-0badc0de-${dead}-aB3dE9`); // another host's: its processes are not ours to see
      make(`crm-rebuild-0badc0de-${dead}-xY7wV2`, { touchedAgoMs: 2 * day });
      make('crm-rebuild-Qw12Er', { touchedAgoMs: day / 2 }); // named before the host and process were
      make('crm-rebuild-Ty34Ui', { touchedAgoMs: 2 * day });
      make('something-else', { touchedAgoMs: 2 * day });
      fs.writeFileSync(directory.file('crm-rebuild-notes'), 'not a directory');

      const removed = removeOrphanedStagingDirectories(directory.path, NOW);

      expect(removed.sort()).toEqual([`${stagingDirectoryPrefix(dead)}aB3dE9`, `crm-rebuild-0badc0de-${dead}-xY7wV2`, 'crm-rebuild-Ty34Ui'].sort());
      expect(fs.readdirSync(directory.path).sort()).toEqual(
        [
          `${stagingDirectoryPrefix(process.pid)}aB3dE9`,
          `${stagingDirectoryPrefix(process.ppid)}aB3dE9`,
          `crm-rebuild-0badc0de-${dead}-aB3dE9`,
          'crm-rebuild-Qw12Er',
          'crm-rebuild-notes',
          'something-else',
        ].sort(),
      );
    });

    it('keeps a directory whose file was written within the day, however old the directory', () => {
      make('crm-rebuild-Op56As', { touchedAgoMs: 3 * UNTOUCHED_FOR_MS });
      fs.utimesSync(path.join(directory.file('crm-rebuild-Op56As'), 'staging.sqlite'), new Date(NOW - 60_000), new Date(NOW - 60_000));
      expect(removeOrphanedStagingDirectories(directory.path, NOW)).toEqual([]);
    });

    it('leaves alone a temporary directory it cannot read', () => {
      expect(removeOrphanedStagingDirectories(directory.file('missing'), NOW)).toEqual([]);
    });
  });
});

/**
 * Where staging databases (see `openStagingDatabase`) live, and the removal of those a dead
 * process left behind.
 *
 * A staging database is removed when it is closed, but a process that is killed meanwhile (kill
 * -9, the OOM killer, a power loss, a SIGTERM during the checkpoint after a copy) cannot remove
 * it. Its file holds a rebuild's read models: about a gigabyte at a million events. Each crash
 * during a seed, a replay or a rebuild would leave one more in the temporary directory, until the
 * disk is full.
 *
 * So each staging directory is named after the host and the process that made it, and the first
 * staging database a process opens removes the directories of this host whose process has ended,
 * and those of any host untouched for a day. The second rule covers a temporary directory that
 * machines or containers share, whose processes this one cannot see, and directories named before
 * the host and process were in the name.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const PREFIX = 'crm-rebuild-';
/** `crm-rebuild-<host>-<pid>-<six characters of mkdtemp>`. */
const NAMED = /^crm-rebuild-([0-9a-f]{8})-(\d+)-[^-]{6}$/;
/** A directory nobody has written to for this long is nobody's, whatever its name says. */
export const UNTOUCHED_FOR_MS = 24 * 60 * 60 * 1000;

/** This host, as directory names tell it: a hash, since a host name may hold any character. */
const thisHost = (): string => createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);

let swept = false;

/**
 * A new directory for a staging database, named after this host and process. The first call of a
 * process first removes what dead processes left (`removeOrphanedStagingDirectories`).
 */
export const newStagingDirectory = (): string => {
  if (!swept) {
    swept = true;
    removeOrphanedStagingDirectories();
  }
  return fs.mkdtempSync(path.join(os.tmpdir(), stagingDirectoryPrefix()));
};

/** The start of the name of a staging directory that the process `pid` of this host makes. */
export const stagingDirectoryPrefix = (pid = process.pid): string => `${PREFIX}${thisHost()}-${pid}-`;

/**
 * Removes the staging directories in `directory` that no running process uses: those this host's
 * process named as theirs and that has ended, and those of any name untouched for
 * `UNTOUCHED_FOR_MS`. Returns the names removed. Never throws: a directory it cannot read or
 * remove (another user's, one removed meanwhile) is left as it is.
 */
export const removeOrphanedStagingDirectories = (directory = os.tmpdir(), now = Date.now()): string[] => {
  let names: string[];
  try {
    names = fs.readdirSync(directory).filter((name) => name.startsWith(PREFIX));
  } catch {
    return [];
  }
  const host = thisHost();
  const removed: string[] = [];
  for (const name of names) {
    const full = path.join(directory, name);
    const owner = NAMED.exec(name);
    const pid = owner && owner[1] === host ? Number(owner[2]) : undefined;
    const orphaned = pid !== undefined ? !isRunning(pid) : lastWritten(full) < now - UNTOUCHED_FOR_MS;
    if (!orphaned) continue;
    try {
      fs.rmSync(full, { recursive: true, force: true });
      removed.push(name);
    } catch {
      // Left for a later sweep.
    }
  }
  return removed;
};

/** Whether a process of this id runs on this host (one of another user's included). */
const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The last time the directory or a file in it was written; +Infinity when it cannot be read (left alone). */
const lastWritten = (full: string): number => {
  try {
    const stat = fs.statSync(full);
    if (!stat.isDirectory()) return Number.POSITIVE_INFINITY;
    return Math.max(stat.mtimeMs, ...fs.readdirSync(full).map((entry) => fs.statSync(path.join(full, entry)).mtimeMs));
  } catch {
    return Number.POSITIVE_INFINITY;
  }
};

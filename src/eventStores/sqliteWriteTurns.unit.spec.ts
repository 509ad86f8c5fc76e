import { describe, expect, it } from 'vitest';
import { inTurnToWrite, WriteTurnTimeoutError } from './sqliteWriteTurns';

const later = <T>(value: T, ms = 20) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

/** Writers that take 10 ms each, and the log of when each starts and ends. */
const loggedWriters = () => {
  const log: string[] = [];
  const writer = (name: string) => async () => {
    log.push(`${name} starts`);
    await later(undefined, 10);
    log.push(`${name} ends`);
    return name;
  };
  return { log, writer };
};

describe('turns at a SQLite file', () => {
  it('gives one writer of a file the turn at a time, first come first served, and never two at once', async () => {
    const { log, writer } = loggedWriters();
    const answers = await Promise.all(['a', 'b', 'c'].map((name) => inTurnToWrite('/tmp/one.sqlite', 1000, writer(name))));
    expect(answers).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['a starts', 'a ends', 'b starts', 'b ends', 'c starts', 'c ends']);
  });

  it('names a file by its path, however it is written, and lets different files be written at once', async () => {
    const { log, writer } = loggedWriters();
    await Promise.all([
      inTurnToWrite('/tmp/same.sqlite', 1000, writer('a')),
      inTurnToWrite('/tmp/./same.sqlite', 1000, writer('b')),
      inTurnToWrite('/tmp/other.sqlite', 1000, writer('c')),
    ]);
    expect(log.indexOf('b starts')).toBeGreaterThan(log.indexOf('a ends'));
    expect(log.indexOf('c starts')).toBeLessThan(log.indexOf('a ends'));
  });

  it('passes the turn on when a writer fails, and gives the failure to that writer alone', async () => {
    const failing = inTurnToWrite('/tmp/failing.sqlite', 1000, async () => {
      await later(undefined, 5);
      throw new Error('disk full');
    });
    const next = inTurnToWrite('/tmp/failing.sqlite', 1000, async () => 'written');
    await expect(failing).rejects.toThrow('disk full');
    await expect(next).resolves.toBe('written');
  });

  it('refuses, as SQLite does with SQLITE_BUSY, a turn not given in time, and leaves the queue as it was', async () => {
    const holder = inTurnToWrite('/tmp/busy.sqlite', 1000, () => later('held', 100));
    const impatient = inTurnToWrite('/tmp/busy.sqlite', 20, async () => 'never');
    const patient = inTurnToWrite('/tmp/busy.sqlite', 1000, async () => 'after');
    const error = await impatient.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WriteTurnTimeoutError);
    expect(error).toMatchObject({ code: 'SQLITE_BUSY' });
    await expect(holder).resolves.toBe('held');
    await expect(patient).resolves.toBe('after');
  });

  it('lets writers wait out a long turn (a rebuild\'s copy) past their timeout, and still refuses one kept waiting by a short turn after it', async () => {
    const { log, writer } = loggedWriters();
    const copy = inTurnToWrite('/tmp/long.sqlite', 1000, async () => {
      log.push('copy starts');
      await later(undefined, 120);
      log.push('copy ends');
      return 'copied';
    }, { long: true });
    // Each would give up after 30 ms behind a turn of the usual kind.
    const appends = ['a', 'b'].map((name) => inTurnToWrite('/tmp/long.sqlite', 30, writer(name)));
    const slow = inTurnToWrite('/tmp/long.sqlite', 1000, () => later('slow', 100));
    const impatient = inTurnToWrite('/tmp/long.sqlite', 30, async () => 'never').catch((caught: unknown) => caught);
    await expect(copy).resolves.toBe('copied');
    await expect(Promise.all(appends)).resolves.toEqual(['a', 'b']);
    expect(log).toEqual(['copy starts', 'copy ends', 'a starts', 'a ends', 'b starts', 'b ends']);
    await expect(slow).resolves.toBe('slow');
    // Behind the usual turn that came after the long one, the timeout counts again.
    expect(await impatient).toBeInstanceOf(WriteTurnTimeoutError);
  });

  it('gives no turn to a database in memory: each connection has its own', async () => {
    const { log, writer } = loggedWriters();
    await Promise.all([inTurnToWrite(':memory:', 1000, writer('a')), inTurnToWrite(':memory:', 1000, writer('b'))]);
    expect(log.slice(0, 2)).toEqual(['a starts', 'b starts']);
  });
});

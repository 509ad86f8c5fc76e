import { describe, expect, it } from 'vitest';
import { sharedPageReads } from './catchUpSubscription';

/** A read that answers when told to, counting how many were made. */
const controlledReads = () => {
  const pending: Array<(rows: string[]) => void> = [];
  const reads: Array<{ from: string | undefined; maxCount: number }> = [];
  const read = (from: string | undefined, maxCount: number) =>
    new Promise<string[]>((resolve) => {
      reads.push({ from, maxCount });
      pending.push(resolve);
    });
  return { read, reads, answer: (index: number, rows: string[]) => pending[index]!(rows) };
};

describe('sharedPageReads', () => {
  it('answers reads of the same page asked while one is in flight with that one read', async () => {
    const { read, reads, answer } = controlledReads();
    const shared = sharedPageReads(read);

    const first = shared.read('10:5', 500);
    const second = shared.read('10:5', 500);
    answer(0, ['e6']);

    expect(await first).toEqual(['e6']);
    expect(await second).toEqual(['e6']);
    expect(reads).toHaveLength(1);
  });

  it('reads again for a subscription woken by an append heard after the read in flight began', async () => {
    const { read, reads, answer } = controlledReads();
    const shared = sharedPageReads(read);

    const begunBefore = shared.read('10:5', 500);
    shared.appendHeard();
    const wokenByTheAppend = shared.read('10:5', 500);

    expect(reads).toHaveLength(2);
    answer(0, []);
    answer(1, ['e6']);
    expect(await begunBefore).toEqual([]);
    expect(await wokenByTheAppend).toEqual(['e6']);
    // Another subscription woken by the same append may take the newer read.
    const third = shared.read('10:5', 500);
    expect(reads).toHaveLength(3);
    answer(2, ['e6']);
    expect(await third).toEqual(['e6']);
  });

  it('shares a read only with reads of the same position and page size, and only while it is in flight', async () => {
    const { read, reads, answer } = controlledReads();
    const shared = sharedPageReads(read);

    const fromHere = shared.read('10:5', 500);
    const fromElsewhere = shared.read('10:6', 500);
    const smallerPage = shared.read('10:5', 1);
    expect(reads).toHaveLength(3);
    answer(0, ['a']);
    answer(1, ['b']);
    answer(2, ['c']);
    expect([await fromHere, await fromElsewhere, await smallerPage]).toEqual([['a'], ['b'], ['c']]);

    const afterwards = shared.read('10:5', 500);
    expect(reads).toHaveLength(4);
    answer(3, ['d']);
    expect(await afterwards).toEqual(['d']);
  });

  it('gives a failed read to those who shared it, and reads anew after it', async () => {
    let calls = 0;
    const shared = sharedPageReads(async () => {
      calls++;
      if (calls === 1) throw new Error('connection lost');
      return ['e1'];
    });

    const [first, second] = [shared.read(undefined, 500), shared.read(undefined, 500)];
    await expect(first).rejects.toThrow('connection lost');
    await expect(second).rejects.toThrow('connection lost');
    expect(await shared.read(undefined, 500)).toEqual(['e1']);
  });
});

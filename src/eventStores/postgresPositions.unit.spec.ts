import { describe, expect, it } from 'vitest';
import { comparePostgresPositions } from './postgres';

/** The order by the numbers themselves, as BigInts: what the comparison must agree with. */
const byNumbers = (a: string, b: string): number => {
  const [aTransaction, aSequence] = a.split(':').map(BigInt) as [bigint, bigint];
  const [bTransaction, bSequence] = b.split(':').map(BigInt) as [bigint, bigint];
  if (aTransaction !== bTransaction) return aTransaction < bTransaction ? -1 : 1;
  return aSequence === bSequence ? 0 : aSequence < bSequence ? -1 : 1;
};

describe('comparePostgresPositions', () => {
  it('orders by transaction id, then by sequence, each as a number whatever its digits', () => {
    expect(comparePostgresPositions('9:5', '10:1')).toBe(-1);
    expect(comparePostgresPositions('10:1', '9:5')).toBe(1);
    expect(comparePostgresPositions('10:9', '10:10')).toBe(-1);
    expect(comparePostgresPositions('10:10', '10:10')).toBe(0);
    expect(comparePostgresPositions('007:1', '7:01')).toBe(0);
    expect(comparePostgresPositions('0:0', '00:000')).toBe(0);
    expect(comparePostgresPositions('18446744073709551615:9223372036854775807', '18446744073709551614:9223372036854775807')).toBe(1);
  });

  it('agrees with the numbers compared as BigInts, on positions of every length', () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const digits = (most: number) => {
      const length = 1 + Math.floor(random() * most);
      return Array.from({ length }, () => String(Math.floor(random() * 10))).join('');
    };
    for (let round = 0; round < 5000; round++) {
      const a = `${digits(20)}:${digits(19)}`;
      // Often the same transaction, so that the sequences decide.
      const b = random() < 0.3 ? `${a.split(':')[0]}:${digits(19)}` : `${digits(20)}:${digits(19)}`;
      expect([a, b, comparePostgresPositions(a, b)]).toEqual([a, b, byNumbers(a, b)]);
    }
  });

  it('refuses what is not a position, as reading from it would', () => {
    for (const notOne of ['', ':', '1:', ':1', '1:2:3', 'a:1', '1:b', ' 1:2', '1:2 ', '-1:2', '123456789012345678901:1', '1:12345678901234567890', '1.5:2']) {
      expect(() => comparePostgresPositions(notOne, '1:1')).toThrow(RangeError);
      expect(() => comparePostgresPositions('1:1', notOne)).toThrow(RangeError);
    }
  });
});

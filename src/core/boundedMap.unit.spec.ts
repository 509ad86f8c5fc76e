import { describe, expect, it } from 'vitest';
import { BoundedMap } from './boundedMap';

describe('BoundedMap', () => {
  it('lets the oldest entry go when a new key comes past its capacity, and keeps a key set again where it was', () => {
    const map = new BoundedMap<string, number>(3);
    map.set('a', 1).set('b', 2).set('c', 3);
    map.set('a', 10); // an update: nothing goes, and 'a' stays the oldest
    expect([...map]).toEqual([['a', 10], ['b', 2], ['c', 3]]);
    map.set('d', 4);
    expect([...map.keys()]).toEqual(['b', 'c', 'd']);
    map.set('e', 5).set('f', 6);
    expect([...map.keys()]).toEqual(['d', 'e', 'f']);
  });

  it('goes on in order after entries are deleted elsewhere, a key comes back, or the map is cleared', () => {
    const map = new BoundedMap<number, number>(4);
    for (let n = 0; n < 4; n++) map.set(n, n);
    map.delete(1);
    map.set(4, 4); // room left: nothing goes
    expect([...map.keys()]).toEqual([0, 2, 3, 4]);
    map.set(5, 5);
    expect([...map.keys()]).toEqual([2, 3, 4, 5]);
    map.delete(2);
    map.set(0, 0); // back, as the newest
    map.set(6, 6);
    expect([...map.keys()]).toEqual([4, 5, 0, 6]);
    map.clear();
    for (let n = 10; n < 16; n++) map.set(n, n);
    expect([...map.keys()]).toEqual([12, 13, 14, 15]);
  });

  it('holds at most its capacity through many evictions, always the newest keys', () => {
    const map = new BoundedMap<number, number>(1_000);
    for (let n = 0; n < 100_000; n++) map.set(n, n);
    expect(map.size).toBe(1_000);
    expect(map.keys().next().value).toBe(99_000);
    expect(map.has(98_999)).toBe(false);
    expect(map.get(99_999)).toBe(99_999);
  });

  it('refuses a capacity that could hold nothing', () => {
    expect(() => new BoundedMap(0)).toThrow(RangeError);
    expect(() => new BoundedMap(1.5)).toThrow(RangeError);
  });
});

import { describe, expect, it } from 'vitest';
import { withoutUndefined } from './json';

const roundTrip = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/** Same value, same key order, same -0 or 0 (toEqual would take -0 for 0 and ignore key order). */
const expectSameAsJson = (value: object) => {
  const copied = withoutUndefined(value);
  expect(JSON.stringify(copied)).toBe(JSON.stringify(value));
  expect(copied).toStrictEqual(roundTrip(value));
  expect(Object.is(copied, value)).toBe(false);
};

describe('withoutUndefined', () => {
  it('gives back what JSON would for plain data: undefined members dropped, key order kept, -0 as 0', () => {
    const data = { leadId: 'l-1', name: { first: 'Ana', last: undefined }, tags: ['a', 'b'], score: -0, nested: [{ at: 1, gone: undefined }], none: null, ok: true, '2': 'two', '1': 'one' };
    expectSameAsJson(data);
    const copied = withoutUndefined(data) as unknown as Record<string, unknown>;
    expect('last' in (copied.name as object)).toBe(false);
    expect(Object.is(copied.score, 0)).toBe(true);
    expect(Object.keys(copied)).toEqual(Object.keys(roundTrip(data) as object));
  });

  it('copies, so that changing the answer never changes what was given', () => {
    const data = { list: [{ a: 1 }] };
    const copied = withoutUndefined(data);
    copied.list[0]!.a = 2;
    expect(data.list[0]!.a).toBe(1);
  });

  it('gives back what JSON would for anything else: dates, classes, holes, functions, non-finite numbers, undefined in arrays, __proto__', () => {
    class Money {
      constructor(readonly amount: number) {}
    }
    const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
    const withProto = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as object;
    for (const value of [
      { at: new Date(Date.UTC(2025, 0, 2)) },
      { money: new Money(12) },
      { sparse },
      { run: () => 1, kept: 1 },
      { ratio: Number.NaN, big: Number.POSITIVE_INFINITY },
      { list: [1, undefined, 2] },
      { custom: { toJSON: () => 'custom' } },
      { bare: Object.assign(Object.create(null) as object, { a: 1 }) },
      withProto,
    ]) {
      expectSameAsJson(value);
    }
    expect(Object.getPrototypeOf(withoutUndefined(withProto))).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses what JSON refuses: a cycle, a bigint', () => {
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    expect(() => withoutUndefined(cycle)).toThrow(TypeError);
    expect(() => withoutUndefined({ n: 1n })).toThrow(TypeError);
  });

  it('gives back what JSON would for a thousand generated values', () => {
    let state = 42;
    const random = () => ((state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const leaf = (): unknown => [undefined, null, true, 'text', 'ñandú €', 0, -0, 1.5, -7, 1e21, Number.NaN][Math.floor(random() * 11)];
    const value = (depth: number): unknown => {
      const kind = random();
      if (depth > 3 || kind < 0.5) return leaf();
      if (kind < 0.7) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 5) }, (_, index) => [`k${index}`, value(depth + 1)]));
    };
    for (let count = 0; count < 1000; count++) expectSameAsJson({ v: value(0) });
  });
});

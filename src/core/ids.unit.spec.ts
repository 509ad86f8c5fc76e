import { v5 as uuidv5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { CRM_NAMESPACE, deterministicId, newId, orderedId, withTimeOf } from './ids';

describe('deterministicId', () => {
  it('derives the name-based UUID (version 5) every stored id was made with', () => {
    const names: Array<Array<string | number>> = [
      ['seed', 42, 'lead', 0],
      ['lead-conversion', 'a1b2', 1, 'account'],
      ['5b4f3d1e-6a0c-4c39-9f0e-2f3b7b8f6a11', 0],
      ['Girona, Catalunya: àèìòù ñ ç', 'emoji 🦊', ''],
      [],
      // Past the reused buffer's room (the path of one Hash object), and then short again.
      ['long', 'x'.repeat(5000)],
      ['wide', '€'.repeat(683)],
      ['wide', '€'.repeat(682)],
      ['short'],
      ...Array.from({ length: 200 }, (_, index) => [`command-${index * 7919}`, index, 'x'.repeat(index % 50)]),
    ];
    for (const parts of names) {
      expect(deterministicId(...parts)).toBe(uuidv5(parts.map(String).join('\u001f'), CRM_NAMESPACE));
    }
    expect(deterministicId('seed', 42, 'lead', 0)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

const UUID_OF_VERSION = (version: number) => new RegExp(`^[0-9a-f]{8}-[0-9a-f]{4}-${version}[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`);
/** The 48 bits of Unix milliseconds a time-ordered UUID begins with. */
const timeOf = (id: string): number => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

describe('newId', () => {
  it('is a random UUID version 7 that begins with the millisecond it was made in', () => {
    const before = Date.now();
    const ids = Array.from({ length: 1000 }, () => newId());
    const after = Date.now();
    for (const id of ids) {
      expect(id).toMatch(UUID_OF_VERSION(7));
      expect(timeOf(id)).toBeGreaterThanOrEqual(before);
      expect(timeOf(id)).toBeLessThanOrEqual(after);
    }
    expect(new Set(ids).size).toBe(1000);
  });

  it('sorts an id made a millisecond later after the earlier one, as text', async () => {
    const first = newId();
    await new Promise((resolve) => setTimeout(resolve, 2));
    const later = newId();
    expect(first < later).toBe(true);
  });
});

describe('orderedId', () => {
  const at = Date.parse('2025-03-04T09:30:00.000Z');

  it('depends only on its time and parts, and is a UUID version 8 that begins with the time', () => {
    const id = orderedId(at, 'seed', 42, 'lead', 7);
    expect(id).toBe(orderedId(at, 'seed', 42, 'lead', 7));
    expect(id).toMatch(UUID_OF_VERSION(8));
    expect(timeOf(id)).toBe(at);
    expect(orderedId(at, 'seed', 42, 'lead', 8)).not.toBe(id);
    // The bits after the time come from the name, as the name-based id's do.
    expect(id.slice(15)).toBe(deterministicId('seed', 42, 'lead', 7).slice(15));
  });

  it('sorts by its time, whatever the parts', () => {
    // Across the 32 bits a time is cut at (the top 16 bits written apart), to the last of 48.
    const times = [0, 1, 999, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, at - 1, at, at + 1, Date.parse('2199-12-31T23:59:59.999Z'), 2 ** 48 - 1];
    const ids = times.map((time, index) => orderedId(time + 0.75, 'part', 1000 - index));
    expect([...ids].sort()).toEqual(ids);
    expect(ids.map(timeOf)).toEqual(times);
  });

  it('refuses a time that 48 bits of milliseconds cannot hold', () => {
    expect(() => orderedId(-1, 'x')).toThrow(RangeError);
    expect(() => orderedId(2 ** 48, 'x')).toThrow(RangeError);
    expect(() => orderedId(Number.NaN, 'x')).toThrow(RangeError);
  });
});

describe('withTimeOf', () => {
  const derived = deterministicId('lead-conversion', 'x', 1, 'account');

  it('leaves an id derived from a random or name-based UUID as it was derived before ids were time-ordered', () => {
    expect(withTimeOf('0b6a4d5e-2f7c-4c1a-9d3e-5f6a7b8c9d0e', derived)).toBe(derived);
    expect(withTimeOf(deterministicId('cmd'), derived)).toBe(derived);
    expect(withTimeOf('cmd-1', derived)).toBe(derived);
    expect(withTimeOf('', derived)).toBe(derived);
  });

  it("gives an id derived from a time-ordered UUID its source's time, as a UUID version 8", () => {
    for (const source of [newId(), orderedId(Date.parse('2025-03-04T09:30:00.000Z'), 'seed')]) {
      const id = withTimeOf(source, derived);
      expect(id).toMatch(UUID_OF_VERSION(8));
      expect(timeOf(id)).toBe(timeOf(source));
      expect(id.slice(15)).toBe(derived.slice(15));
    }
  });

  it('cuts an id that is not a UUID as it always did', () => {
    const source = orderedId(Date.parse('2025-03-04T09:30:00.000Z'), 'seed');
    expect(withTimeOf(source, 'x'.repeat(40))).toBe(`${source.slice(0, 13)}-8${'x'.repeat(25)}`);
    expect(withTimeOf(source, 'short')).toBe(`${source.slice(0, 13)}-8`);
  });
});

import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors';
import { nextEventTimes, utcInstant } from './eventTimes';

const now = new Date('2026-03-10T12:00:00.000Z');
const last = { recordedAt: '2026-03-09T08:00:00.000Z', occurredAt: '2026-03-05T08:00:00.000Z' };

const refusal = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    const [problem] = (error as ValidationError).fields;
    expect(problem!.field).toBe('occurredAt');
    return problem!.message;
  }
  throw new Error('expected a refusal');
};

describe('nextEventTimes', () => {
  it('records now, and the fact as happening now, when nothing is back-dated', () => {
    expect(nextEventTimes({ now }, last)).toEqual({ recordedAt: now, occurredAt: now });
    expect(nextEventTimes({ now }, undefined)).toEqual({ recordedAt: now, occurredAt: now });
  });

  it('keeps a back-dated fact that is not before the last one', () => {
    const occurredAt = new Date('2026-03-05T08:00:00.000Z');
    expect(nextEventTimes({ now, occurredAt }, last)).toEqual({ recordedAt: now, occurredAt });
  });

  it('refuses a fact back-dated before the last fact of the stream', () => {
    const message = refusal(() => nextEventTimes({ now, occurredAt: new Date('2026-03-05T07:59:59.999Z') }, last));
    expect(message).toContain('2026-03-05T08:00:00.000Z');
  });

  it('refuses a fact dated after its recording', () => {
    expect(refusal(() => nextEventTimes({ now, occurredAt: new Date(now.getTime() + 1) }, undefined))).toContain('future');
  });

  it('never lets a stream go back in time when a request read the clock before a racing one', () => {
    const ahead = { recordedAt: '2026-03-10T12:00:00.250Z', occurredAt: '2026-03-10T12:00:00.250Z' };
    const later = new Date(ahead.recordedAt);
    expect(nextEventTimes({ now }, ahead)).toEqual({ recordedAt: later, occurredAt: later });
  });
});

describe('utcInstant', () => {
  it('writes every time as the same UTC instant Date writes, a day that does not exist rolled over, a non-time refused', () => {
    expect(utcInstant('2025-03-01T00:30:00+02:00')).toBe('2025-02-28T22:30:00.000Z');
    expect(utcInstant('2025-03-01T00:30:00Z')).toBe('2025-03-01T00:30:00.000Z');
    expect(utcInstant(new Date(Date.UTC(2025, 0, 2)))).toBe('2025-01-02T00:00:00.000Z');
    // Canonical in form, yet rolled over by Date: never taken as it is.
    expect(utcInstant('2025-02-29T10:00:00.000Z')).toBe('2025-03-01T10:00:00.000Z');
    expect(utcInstant('2025-04-31T10:00:00.000Z')).toBe('2025-05-01T10:00:00.000Z');
    expect(utcInstant('2025-01-01T24:00:00.000Z')).toBe('2025-01-02T00:00:00.000Z');
    expect(utcInstant('2024-02-29T10:00:00.000Z')).toBe('2024-02-29T10:00:00.000Z');
    expect(() => utcInstant('2025-13-01T00:00:00.000Z')).toThrow(RangeError);
    expect(() => utcInstant('2025-01-00T00:00:00.000Z')).toThrow(RangeError);
    expect(() => utcInstant('not a time')).toThrow(RangeError);
    const outcome = (write: () => string) => {
      try {
        return write();
      } catch (error) {
        return error instanceof RangeError ? 'RangeError' : error;
      }
    };
    // Every day of four years, at times that reach each field's limits: as Date writes them.
    for (let day = Date.UTC(2023, 0, 1); day < Date.UTC(2027, 0, 1); day += 86_400_000) {
      for (const offset of [0, 59_999, 3_599_999, 86_399_999]) {
        const time = new Date(day + offset).toISOString();
        expect(utcInstant(time)).toBe(time);
        const written = time.replace(/T(\d\d)/, (_, hour: string) => `T${String(Number(hour) + 1).padStart(2, '0')}`);
        expect(outcome(() => utcInstant(written))).toBe(outcome(() => new Date(written).toISOString()));
      }
    }
  });
});

import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors';
import { DEFAULT_BACKDATE_LIMIT_DAYS, parseBackdateLimitDays, requestedOccurredAt } from './backdating';

const now = new Date('2026-03-31T12:00:00.000Z');
const DAY = 86_400_000;

describe('back-dating limits', () => {
  it('reads CRM_BACKDATE_LIMIT_DAYS as whole days, 30 by default', () => {
    expect(parseBackdateLimitDays(undefined)).toBe(DEFAULT_BACKDATE_LIMIT_DAYS);
    expect(parseBackdateLimitDays('')).toBe(30);
    expect(parseBackdateLimitDays(' 7 ')).toBe(7);
    expect(parseBackdateLimitDays('0')).toBe(0);
    for (const wrong of ['-1', '2.5', 'thirty', '1e3']) expect(() => parseBackdateLimitDays(wrong)).toThrow('whole number of days');
  });

  it('accepts a time from exactly the limit ago up to now', () => {
    const limitAgo = new Date(now.getTime() - 30 * DAY);
    expect(requestedOccurredAt(limitAgo.toISOString(), now, 30)).toEqual(limitAgo);
    expect(requestedOccurredAt(now, now, 30)).toEqual(now);
    expect(requestedOccurredAt(null, now, 30)).toBeUndefined();
  });

  it('refuses a time one millisecond beyond either end', () => {
    const refused = (value: Date) => {
      try {
        requestedOccurredAt(value, now, 30);
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return (error as ValidationError).fields[0]!;
      }
      throw new Error('expected a refusal');
    };
    expect(refused(new Date(now.getTime() + 1))).toEqual({ field: 'occurredAt', message: 'must not be in the future' });
    expect(refused(new Date(now.getTime() - 30 * DAY - 1)).message).toBe(
      'must not be more than 30 days ago (CRM_BACKDATE_LIMIT_DAYS), i.e. not before 2026-03-01T12:00:00.000Z',
    );
  });
});

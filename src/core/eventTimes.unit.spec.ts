import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors';
import { nextEventTimes } from './eventTimes';

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

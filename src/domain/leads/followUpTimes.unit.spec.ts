import { describe, expect, it } from 'vitest';
import { followUpTimes } from './conversion';

const at = (hour: number) => new Date(Date.UTC(2026, 2, 20, hour)).toISOString();

describe('the times of a conversion follow-up', () => {
  const converted = { occurredAt: at(8), recordedAt: at(12) };

  it('on a stream the conversion opens: the conversion\'s business time, recorded now', () => {
    expect(followUpTimes(converted, undefined, new Date(at(13)))).toEqual({ occurredAt: at(8), recordedAt: at(13) });
  });

  it('after an older last event: unchanged', () => {
    expect(followUpTimes(converted, { occurredAt: at(7), recordedAt: at(7) }, new Date(at(13)))).toEqual({
      occurredAt: at(8),
      recordedAt: at(13),
    });
  });

  it('after a last event later than the back-dated conversion: no earlier than that event, on both axes', () => {
    expect(followUpTimes(converted, { occurredAt: at(10), recordedAt: at(14) }, new Date(at(13)))).toEqual({
      occurredAt: at(10),
      recordedAt: at(14),
    });
  });

  it('never recorded before the conversion itself, even by a clock behind it', () => {
    expect(followUpTimes(converted, undefined, new Date(at(11)))).toEqual({ occurredAt: at(8), recordedAt: at(12) });
  });

  it('compares instants, not text', () => {
    const last = { occurredAt: '2026-03-20T09:00:00+02:00', recordedAt: '2026-03-20T09:00:00+02:00' };
    expect(followUpTimes(converted, last, new Date(at(13)))).toEqual({ occurredAt: at(8), recordedAt: at(13) });
  });
});

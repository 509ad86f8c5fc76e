/**
 * Taking personal fields out of an event's data and putting them back: the data that goes in is
 * never changed (events are shared between readers), and what comes back is what went in.
 */
import { describe, expect, it } from 'vitest';
import { ERASED_PERSONAL_DATA } from '../domain/personalData';
import { erasedView, restorePersonal, takePersonal, withoutEnvelope } from './envelope';

const captured = () => ({
  leadId: 'l1',
  person: { lastName: 'Roca', email: 'roca@mail.example' },
  company: { name: 'Roca SL' },
  interest: { product: 'Solar', notes: 'call at 9', budget: 1200 },
  qualification: null,
});

describe('personal fields in and out of event data', () => {
  it('takes top-level and nested fields out without touching the input, and puts them back', () => {
    const data = captured();
    const before = structuredClone(data);
    const { clear, personal, fields } = takePersonal(data, ['person', 'interest.notes', 'qualification', 'missing.path']);
    expect(data).toEqual(before);
    expect(fields).toEqual(['person', 'interest.notes']);
    expect(clear).toEqual({ leadId: 'l1', company: { name: 'Roca SL' }, interest: { product: 'Solar', budget: 1200 }, qualification: null });
    expect(clear.company).toBe(data.company); // untouched branches are shared, not copied
    const stored: Record<string, unknown> = { ...clear, personalData: { keyId: 'k1' } };
    const restored = restorePersonal(stored, personal);
    expect(restored).toEqual(data);
    expect(stored.interest).toEqual({ product: 'Solar', budget: 1200 });
  });

  it('reads an erased event as null fields named in erasedPersonalData, without the envelope', () => {
    const stored = { leadId: 'l1', interest: { product: 'Solar' }, personalData: { keyId: 'k1', fields: ['person', 'interest.notes'] } };
    expect(erasedView(stored, ['person', 'interest.notes'])).toEqual({
      leadId: 'l1',
      person: null,
      interest: { product: 'Solar', notes: null },
      [ERASED_PERSONAL_DATA]: ['person', 'interest.notes'],
    });
    expect(withoutEnvelope(stored)).toEqual({ leadId: 'l1', interest: { product: 'Solar' } });
    expect(stored.personalData).toBeDefined();
  });

  it('puts data back in place, for a reader that owns it, exactly as it would in a copy', () => {
    const { clear, personal } = takePersonal(captured(), ['person', 'interest.notes']);
    const stored = () => structuredClone({ ...clear, personalData: { keyId: 'k1' } }) as Record<string, unknown>;
    const owned = stored();
    const restored = restorePersonal(owned, personal, true);
    expect(restored).toBe(owned);
    expect(restored).toEqual(restorePersonal(stored(), personal));
    expect(Object.keys(restored)).toEqual(Object.keys(restorePersonal(stored(), personal)));
    const erased = stored();
    expect(erasedView(erased, ['person', 'interest.notes'], true)).toBe(erased);
    expect(erased).toEqual(erasedView(stored(), ['person', 'interest.notes']));
    const plain = stored();
    expect(withoutEnvelope(plain, true)).toBe(plain);
    expect(plain).toEqual(withoutEnvelope(stored()));
  });
});

import { describe, expect, it } from 'vitest';
import { toUnits } from '../opportunities/money';
import { leadFunnelOf } from './kpis';
import {
  monthAfter,
  monthsOfPeriod,
  averageDays,
  averageMoney,
  compareGroupKeys,
  durationMs,
  groupKeyOf,
  originOfCapture,
  inPeriod,
  monthOf,
  ratio,
  reachesLead,
  splitAmount,
  unitsOfParts,
} from './definitions';

describe('the KPI definitions', () => {
  it('put a fact in the UTC month of its time, whatever offset it was written with', () => {
    expect(monthOf('2025-03-01T00:30:00+02:00')).toBe('2025-02');
    expect(monthOf('2025-03-31T23:59:59.999Z')).toBe('2025-03');
  });

  it('count a period from its start, included, to its end, excluded', () => {
    const period = { from: '2025-01-01T00:00:00.000Z', to: '2025-02-01T00:00:00.000Z' };
    expect(inPeriod('2025-01-01T00:00:00Z', period)).toBe(true);
    expect(inPeriod('2025-01-31T23:59:59.999Z', period)).toBe(true);
    expect(inPeriod('2025-02-01T00:00:00Z', period)).toBe(false);
  });

  it('split an amount into two integers whose sums give back the exact total', () => {
    const amounts = ['0.00000001', '999999999999999999.99999999', '18500.5', '0.1', '0.2'];
    const parts = amounts.map(splitAmount);
    const whole = parts.reduce((sum, part) => sum + part.whole, 0n);
    const fraction = parts.reduce((sum, part) => sum + part.fraction, 0n);
    expect(unitsOfParts(whole, fraction)).toBe(amounts.reduce((sum, amount) => sum + toUnits(amount), 0n));
    expect(splitAmount('18500.5')).toEqual({ whole: 18500n, fraction: 50_000_000n });
  });

  it('average money exactly, truncated to the 10 decimals of the sums', () => {
    expect(averageMoney(toUnits('100'), 3, 'EUR')).toEqual({ amount: '33.3333333333', currency: 'EUR' });
    expect(averageMoney(0n, 0, 'EUR')).toBeNull();
  });

  it('never count a negative duration, even for a back-dated end', () => {
    expect(durationMs('2025-01-02T00:00:00Z', '2025-01-01T00:00:00Z')).toBe(0);
    expect(averageDays(durationMs('2025-01-01T00:00:00Z', '2025-01-04T12:00:00Z'), 1)).toBe(3.5);
  });

  it('count a lead cycle as contacted only once it was reached, not for mere attempts', () => {
    expect(reachesLead('REACHED')).toBe(true);
    for (const outcome of ['NO_ANSWER', 'LEFT_MESSAGE', 'WRONG_NUMBER', 'BOUNCED'] as const) expect(reachesLead(outcome)).toBe(false);
    // Three cycles: one reached, one only with NO_ANSWER, one never contacted.
    const cycles = [['NO_ANSWER', 'REACHED'], ['NO_ANSWER'], []] as const;
    const contacted = cycles.filter((outcomes) => outcomes.some(reachesLead)).length;
    const key = { source: null, campaign: null, ownerId: null, month: null, listId: null, origin: null };
    const [funnel] = leadFunnelOf([{ key, captured: cycles.length, contacted, reachedMql: 0, reachedSql: 0, disqualified: 0, converted: 0 }]);
    expect(funnel).toMatchObject({ captured: 3, contacted: 1, contactRate: 1 / 3 });
    expect(leadFunnelOf([{ key, captured: 0, contacted: 0, reachedMql: 0, reachedSql: 0, disqualified: 0, converted: 0 }])[0]!.contactRate).toBeNull();
  });

  it('give no ratio when there is nothing to divide by', () => {
    expect(ratio(0, 0)).toBeNull();
    expect(ratio(1, 4)).toBe(0.25);
  });

  it('tell a new lead from a re-engaged contact by the contact its capture names', () => {
    expect(originOfCapture({})).toBe('NEW');
    expect(originOfCapture({ contactId: 'contact-1' })).toBe('RE_ENGAGED');
  });

  it('key a fact by the list of its copy and its origin only when cut by them', () => {
    const attribution = { source: 'WEB_FORM', campaign: null, ownerId: 'ana', origin: 'RE_ENGAGED' as const, listId: 'list-1' };
    expect(groupKeyOf(['LIST', 'ORIGIN'], attribution, '2025-01')).toEqual({
      source: null, campaign: null, ownerId: null, month: null, listId: 'list-1', origin: 'RE_ENGAGED',
    });
    expect(groupKeyOf(['LIST'], { ...attribution, listId: undefined }, '2025-01').listId).toBeNull();
    expect(groupKeyOf(['SOURCE'], attribution, '2025-01')).toMatchObject({ source: 'WEB_FORM', listId: null, origin: null });
  });

  it('order groups by key, an absent value first', () => {
    const key = (source: string | null, month: string | null) => ({ source, campaign: null, ownerId: null, month, listId: null, origin: null });
    const keys = [key('WEB_FORM', '2025-02'), key(null, '2025-01'), key('WEB_FORM', null), key('REFERRAL', '2025-01')];
    expect(keys.sort(compareGroupKeys)).toEqual([
      key(null, '2025-01'),
      key('REFERRAL', '2025-01'),
      key('WEB_FORM', null),
      key('WEB_FORM', '2025-02'),
    ]);
  });
});

describe('a period cut by month', () => {
  it('is each month it touches, with its part of the period, one after the other', () => {
    expect(monthsOfPeriod({ from: '2024-11-20T10:00:00.000Z', to: '2025-02-03T00:00:00.000Z' })).toEqual([
      { month: '2024-11', from: '2024-11-20T10:00:00.000Z', to: '2024-12-01T00:00:00.000Z' },
      { month: '2024-12', from: '2024-12-01T00:00:00.000Z', to: '2025-01-01T00:00:00.000Z' },
      { month: '2025-01', from: '2025-01-01T00:00:00.000Z', to: '2025-02-01T00:00:00.000Z' },
      { month: '2025-02', from: '2025-02-01T00:00:00.000Z', to: '2025-02-03T00:00:00.000Z' },
    ]);
    expect(monthsOfPeriod({ from: '2024-03-01T00:00:00.000Z', to: '2024-04-01T00:00:00.000Z' })).toEqual([
      { month: '2024-03', from: '2024-03-01T00:00:00.000Z', to: '2024-04-01T00:00:00.000Z' },
    ]);
    // Offsets are read as the instants they are.
    expect(monthsOfPeriod({ from: '2024-02-29T23:30:00-02:00', to: '2024-03-02T00:00:00Z' })).toEqual([
      { month: '2024-03', from: '2024-03-01T01:30:00.000Z', to: '2024-03-02T00:00:00.000Z' },
    ]);
  });

  it('ends at the last month of four-digit years, and is nothing for a period it cannot cut', () => {
    expect(monthsOfPeriod({ from: '9999-11-15T00:00:00.000Z', to: '9999-12-31T23:59:59.999Z' })).toEqual([
      { month: '9999-11', from: '9999-11-15T00:00:00.000Z', to: '9999-12-01T00:00:00.000Z' },
      { month: '9999-12', from: '9999-12-01T00:00:00.000Z', to: '9999-12-31T23:59:59.999Z' },
    ]);
    expect(monthsOfPeriod({ from: '2024-03-01T00:00:00.000Z', to: '2024-03-01T00:00:00.000Z' })).toEqual([]);
    expect(monthsOfPeriod({ from: '2024-03-01T00:00:00.000Z', to: '+010000-01-01T00:00:00.000Z' })).toEqual([]);
  });

  it('counts months across years, from year 0 to 9999', () => {
    expect(['0000-01', '0999-12', '2024-09', '2024-12', '9999-11'].map(monthAfter)).toEqual(['0000-02', '1000-01', '2024-10', '2025-01', '9999-12']);
  });
});

import { describe, expect, it } from 'vitest';
import { planAssignment } from './assignment';

const open = (leadId: string, ownerId?: string) => ({ leadId, open: true, ...(ownerId ? { ownerId } : {}) });
const ownersOf = (plan: ReturnType<typeof planAssignment>) => plan.assignments.map((a) => a.ownerId);

describe('planAssignment', () => {
  it('ROUND_ROBIN deals the leads in turn, in the owners order', () => {
    const leads = ['1', '2', '3', '4', '5'].map((id) => open(id));
    expect(ownersOf(planAssignment(leads, ['ana', 'ben'], 'ROUND_ROBIN', false))).toEqual(['ana', 'ben', 'ana', 'ben', 'ana']);
  });

  it('LEAST_LOADED fills the lightest owner first and ends as even as it can', () => {
    const leads = ['1', '2', '3', '4', '5', '6'].map((id) => open(id));
    const plan = planAssignment(leads, ['ana', 'ben', 'cai'], 'LEAST_LOADED', false, new Map([['ana', 4], ['ben', 1]]));
    expect(ownersOf(plan)).toEqual(['cai', 'ben', 'cai', 'ben', 'cai', 'ben']);
    const after = { ana: 4, ben: 1, cai: 0 } as Record<string, number>;
    for (const owner of ownersOf(plan)) after[owner]!++;
    expect(Math.max(...Object.values(after)) - Math.min(...Object.values(after))).toBeLessThanOrEqual(1);
  });

  it('LEAST_LOADED counts a lead moving within the team off its current owner', () => {
    // ana holds 2 open leads, one of them in this list: reassigning it leaves her with 1.
    const plan = planAssignment([open('1', 'ana'), open('2')], ['ana', 'ben'], 'LEAST_LOADED', false, new Map([['ana', 2], ['ben', 1]]));
    expect(ownersOf(plan)).toEqual(['ana', 'ben']);
  });

  it('leaves out closed leads, and owned ones when only unassigned leads are dealt', () => {
    const leads = [open('1', 'zoe'), { leadId: '2', open: false }, open('3')];
    expect(planAssignment(leads, ['ana'], 'ROUND_ROBIN', true)).toEqual({ assignments: [{ leadId: '3', ownerId: 'ana' }], leftOut: 2 });
    expect(planAssignment(leads, ['ana'], 'ROUND_ROBIN', false).assignments.map((a) => a.leadId)).toEqual(['1', '3']);
  });
});

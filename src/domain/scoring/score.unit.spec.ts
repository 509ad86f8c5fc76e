import { describe, expect, it } from 'vitest';
import { foldEvents } from '../../core/decider';
import { evolveLead, initialLeadState, type ExistingLead, type LeadEvent } from '../leads/lead';
import { DEFAULT_SCORING_RULES, parseScoringRules, type ScoringRules } from './rules';
import { scoreLeadWith } from './score';

const leadId = 'lead-1';
const leadFrom = (events: LeadEvent[]): ExistingLead => {
  const state = foldEvents({ evolve: evolveLead, initialState: initialLeadState }, events);
  if (state.status === 'NONE') throw new Error('no lead');
  return state;
};

const captured = (data: Partial<Extract<LeadEvent, { type: 'LeadCaptured' }>['data']> = {}): LeadEvent => ({
  type: 'LeadCaptured',
  data: { leadId, source: 'REFERRAL', person: { lastName: 'Puig', jobTitle: 'Directora de Compras' }, ...data },
});
const contact = (channel: 'CALL' | 'MEETING' | 'EMAIL', outcome: 'REACHED' | 'NO_ANSWER' | 'BOUNCED'): LeadEvent => ({
  type: 'LeadContactLogged',
  data: { leadId, channel, outcome },
});
const quoteRequested: LeadEvent = { type: 'LeadQuoteRequested', data: { leadId } };

const rules: ScoringRules = parseScoringRules({
  version: 7,
  rules: [
    { id: 'referral', label: 'Referral', points: 20, when: { source: ['REFERRAL'] } },
    { id: 'buyer', points: 15, when: { jobTitleKeywords: ['directora', 'head of'] } },
    { id: 'spanish-mid-size', points: 10, when: { companySize: ['51-200'], country: ['españa', 'ES'] } },
    { id: 'reached', label: 'Contacts reached', points: 5, count: { action: 'CONTACT', outcomes: ['REACHED'], max: 2 } },
    { id: 'meetings', points: 8, count: { action: 'CONTACT', channels: ['MEETING'], outcomes: ['REACHED'] } },
    { id: 'bounced', points: -7, count: { action: 'CONTACT', outcomes: ['BOUNCED'] } },
    { id: 'quotes', points: 30, count: { action: 'QUOTE_REQUESTED', max: 1 } },
  ],
});

describe('scoreLeadWith', () => {
  it('adds the points of each matching attribute, in the order of the rules', () => {
    expect(scoreLeadWith(rules, leadFrom([captured()]))).toEqual({
      score: 35,
      breakdown: [
        { ruleId: 'referral', label: 'Referral', points: 20 },
        { ruleId: 'buyer', points: 15 },
      ],
    });
  });

  it('needs every condition of a rule: size and country together', () => {
    const sizeOnly = captured({ company: { name: 'Acme', size: '51-200', address: { country: 'France' } } });
    const both = captured({ company: { name: 'Acme', size: '51-200', address: { country: 'Espana' } } });
    expect(scoreLeadWith(rules, leadFrom([sizeOnly])).score).toBe(35);
    expect(scoreLeadWith(rules, leadFrom([both])).breakdown).toContainEqual({ ruleId: 'spanish-mid-size', points: 10 });
  });

  it('matches job title keywords as whole words, without case or accents', () => {
    const title = (jobTitle: string) => scoreLeadWith(rules, leadFrom([captured({ source: 'OTHER', person: { lastName: 'X', jobTitle } })])).score;
    expect(title('HEAD OF Procurement')).toBe(15);
    expect(title('Subdirectora')).toBe(0);
    expect(title('Forehead of state')).toBe(0);
    expect(title('DIRECTORA GENERAL')).toBe(15);
  });

  it("scores by each version's own lists, a list shared by two conditions compared each its own way", () => {
    const lead = leadFrom([captured({ source: 'OTHER', person: { lastName: 'X', jobTitle: 'Gerente' }, company: { name: 'Acme', address: { country: 'Chile' } } })]);
    const shared = ['gerente', 'chile'];
    const version = (id: string, jobTitleKeywords: string[], country: string[]) =>
      parseScoringRules({ version: id, rules: [{ id: 'title', points: 1, when: { jobTitleKeywords } }, { id: 'country', points: 2, when: { country } }] });
    expect(scoreLeadWith(version('a', ['directora'], ['españa']), lead).score).toBe(0);
    expect(scoreLeadWith(version('b', ['gerente'], ['CHILE']), lead).score).toBe(3);
    expect(scoreLeadWith(version('a', ['directora'], ['españa']), lead).score).toBe(0);
    const both = parseScoringRules({ version: 'c', rules: [{ id: 'title', points: 1, when: { jobTitleKeywords: shared } }, { id: 'country', points: 2, when: { country: shared } }] });
    expect(scoreLeadWith(both, lead).score).toBe(3);
    expect(scoreLeadWith(both, leadFrom([captured({ source: 'OTHER', person: { lastName: 'X', jobTitle: 'Chile' } })])).score).toBe(1);
  });

  it('counts actions of the current cycle, up to each rule’s maximum, and takes points away', () => {
    const lead = leadFrom([
      captured({ source: 'OTHER', person: { lastName: 'X' } }),
      contact('CALL', 'REACHED'),
      contact('MEETING', 'REACHED'),
      contact('MEETING', 'REACHED'),
      contact('CALL', 'NO_ANSWER'),
      contact('EMAIL', 'BOUNCED'),
      quoteRequested,
      quoteRequested,
    ]);
    expect(scoreLeadWith(rules, lead)).toEqual({
      score: 5 * 2 + 8 * 2 - 7 + 30,
      breakdown: [
        { ruleId: 'reached', label: 'Contacts reached', points: 10, count: 2 },
        { ruleId: 'meetings', points: 16, count: 2 },
        { ruleId: 'bounced', points: -7, count: 1 },
        { ruleId: 'quotes', points: 30, count: 1 },
      ],
    });
  });

  it('forgets the actions of a cycle once the lead is recycled', () => {
    const lead = leadFrom([
      captured({ source: 'OTHER', person: { lastName: 'X' } }),
      contact('CALL', 'REACHED'),
      quoteRequested,
      { type: 'LeadDisqualified', data: { leadId, reason: 'NO_BUDGET', statusBefore: 'CONTACTED' } },
      { type: 'LeadRecycled', data: { leadId, cycle: 2, source: 'OTHER' } },
    ]);
    expect(scoreLeadWith(rules, lead)).toEqual({ score: 0, breakdown: [] });
  });

  it('gives the same score to the same lead every time (no clock, no randomness)', () => {
    const lead = leadFrom([captured(), contact('MEETING', 'REACHED'), quoteRequested]);
    expect(scoreLeadWith(DEFAULT_SCORING_RULES, lead)).toEqual(scoreLeadWith(DEFAULT_SCORING_RULES, lead));
    expect(scoreLeadWith(DEFAULT_SCORING_RULES, lead).score).toBe(20 + 15 + 10 + 15 + 25);
  });
});

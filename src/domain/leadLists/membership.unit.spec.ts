import { describe, expect, it } from 'vitest';
import { evolveLead, initialLeadState, type ExistingLead, type LeadEvent } from '../leads/lead';
import { leadMatchesFilter } from './membership';

const leadOf = (...events: LeadEvent[]): ExistingLead => events.reduce(evolveLead, initialLeadState()) as ExistingLead;
const leadId = 'lead-1';
const captured: LeadEvent = {
  type: 'LeadCaptured',
  data: {
    leadId,
    source: 'WEB_FORM',
    campaign: 'spring',
    ownerId: 'ana',
    person: { firstName: 'Núria', lastName: 'Puig', email: 'nuria@botiga.example' },
    company: { name: "L'Òptica Puig" },
  },
};
const scored = (score: number): LeadEvent => ({ type: 'LeadScored', data: { leadId, score, rulesVersion: 'v1', breakdown: [] } });

describe('leadMatchesFilter: the leads a dynamic list holds, as the leads read model finds them', () => {
  it('matches each criterion by equality, and a lead without the field never', () => {
    const lead = leadOf(captured);
    expect(leadMatchesFilter(lead, { source: 'WEB_FORM', campaign: 'spring', ownerId: 'ana', status: 'NEW', rank: 'UNRANKED' })).toBe(true);
    expect(leadMatchesFilter(lead, { source: 'REFERRAL' })).toBe(false);
    expect(leadMatchesFilter(lead, { status: 'QUALIFIED' })).toBe(false);
    const unowned = leadOf({ ...captured, data: { leadId, source: 'WEB_FORM' } } as LeadEvent);
    expect(leadMatchesFilter(unowned, { ownerId: 'ana' })).toBe(false);
    expect(leadMatchesFilter(unowned, { campaign: 'spring' })).toBe(false);
  });

  it('follows the lead now: qualified, it leaves a list of new leads and joins one of SQLs', () => {
    const lead = leadOf(captured, { type: 'LeadQualified', data: { leadId, rank: 'SQL', criteria: { need: true, budget: true, authority: true, timing: true } } });
    expect(leadMatchesFilter(lead, { status: 'NEW' })).toBe(false);
    expect(leadMatchesFilter(lead, { rank: 'SQL' })).toBe(true);
  });

  it('searches names, e-mail and company case- and accent-insensitively', () => {
    const lead = leadOf(captured);
    for (const search of ['nuria', 'NÚRIA PUIG', 'botiga.example', 'optica', '  puig  ']) expect(leadMatchesFilter(lead, { search }), search).toBe(true);
    expect(leadMatchesFilter(lead, { search: 'garcia' })).toBe(false);
  });

  it('needs a score of at least minScore: an unscored lead is left out', () => {
    expect(leadMatchesFilter(leadOf(captured), { minScore: 0 })).toBe(false);
    expect(leadMatchesFilter(leadOf(captured, scored(60)), { minScore: 60 })).toBe(true);
    expect(leadMatchesFilter(leadOf(captured, scored(59)), { minScore: 60 })).toBe(false);
  });
});

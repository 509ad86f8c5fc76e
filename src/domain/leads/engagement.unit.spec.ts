import { describe, expect, it } from 'vitest';
import type { ExistingAccount } from '../accounts/account';
import type { ExistingContact } from '../contacts/contact';
import { foldEvents } from '../../core/decider';
import { InvalidTransitionError, ValidationError } from '../../core/errors';
import { deciderSpecification } from '../../core/testing/deciderSpecification';
import { DEFAULT_DISQUALIFICATION_REASONS, ReasonCatalog } from '../reasons';
import { conversionIds, planConversion } from './conversion';
import { createLeadDecider } from './decide';
import { engagedConversionRequest, engagementCommand, engagementFollowUp } from './engagement';
import type { ExistingLead, LeadEvent } from './lead';

const decider = createLeadDecider({ disqualificationReasons: new ReasonCatalog(DEFAULT_DISQUALIFICATION_REASONS) });
const given = deciderSpecification(decider);
const leadId = 'lead-again';

const marta: ExistingContact = {
  status: 'ACTIVE',
  contactId: 'c-marta',
  firstName: 'Marta',
  lastName: 'Puig',
  email: 'marta@botiga-puig.example',
  jobTitle: 'Owner',
  accountId: 'acc-botiga',
  ownerId: 'bob',
};
const botiga: ExistingAccount = {
  status: 'OPEN',
  accountId: 'acc-botiga',
  kind: 'COMPANY',
  name: 'Botiga Puig',
  website: 'botiga-puig.example',
  industry: 'Retail',
  ownerId: 'bob',
};
const request = { leadId, contactId: 'c-marta', source: 'SOCIAL_MEDIA' as const, campaign: 'spring', interest: { product: 'Displays' } };

const engaged: LeadEvent = {
  type: 'LeadCaptured',
  data: {
    leadId,
    contactId: 'c-marta',
    accountId: 'acc-botiga',
    source: 'SOCIAL_MEDIA',
    campaign: 'spring',
    person: { firstName: 'Marta', lastName: 'Puig', email: 'marta@botiga-puig.example', jobTitle: 'Owner' },
    company: { name: 'Botiga Puig', website: 'botiga-puig.example' },
    interest: { product: 'Displays' },
  },
};

describe('EngageContact', () => {
  it("captures a lead whose person is the contact's and company the account's, naming both", () => {
    given([]).when(engagementCommand(request, marta, botiga)).then([engaged]);
  });

  it('has no company for a contact without an account, nor for a B2C grouping', () => {
    const alone = { ...marta, accountId: undefined };
    const [withoutAccount] = decider.decide(engagementCommand(request, alone, undefined), { status: 'NONE' });
    expect(withoutAccount!.data).not.toHaveProperty('company');
    expect(withoutAccount!.data).not.toHaveProperty('accountId');
    const [inGrouping] = decider.decide(engagementCommand(request, marta, { ...botiga, kind: 'GROUPING', name: 'Girona stores' }), {
      status: 'NONE',
    });
    expect(inGrouping!.data).toMatchObject({ accountId: 'acc-botiga' });
    expect(inGrouping!.data).not.toHaveProperty('company');
  });

  it('refuses a person without a name (erased), and a lead that exists', () => {
    given([])
      .when(engagementCommand(request, { ...marta, lastName: null as unknown as string }, botiga))
      .thenThrows(ValidationError, (e) => expect(e.fields[0]?.field).toBe('contactId'));
    given([engaged]).when(engagementCommand(request, marta, botiga)).thenThrows(InvalidTransitionError);
  });

  it('folds into a lead that remembers its contact, through its whole life', () => {
    const lead = foldEvents(decider, [engaged, { type: 'LeadQualified', data: { leadId, rank: 'SQL', criteria: { need: true, budget: true, authority: true, timing: true } } }]);
    expect(lead).toMatchObject({ status: 'QUALIFIED', contactId: 'c-marta', accountId: 'acc-botiga', cycle: 1 });
  });
});

describe("the contact's record of an engagement", () => {
  it('is a ContactEngaged on the contact stream, from the LeadCaptured alone', () => {
    expect(engagementFollowUp(engaged.data as never)).toEqual({
      streamId: 'contact-c-marta',
      events: [{ type: 'ContactEngaged', data: { contactId: 'c-marta', leadId, source: 'SOCIAL_MEDIA', campaign: 'spring' } }],
      opensStream: false,
    });
  });

  it('is nothing for a lead captured as a stranger', () => {
    expect(engagementFollowUp({ leadId, source: 'WEB_FORM', person: { lastName: 'Puig' } })).toBeUndefined();
  });
});

describe('converting a lead opened for a contact', () => {
  const sql: LeadEvent = { type: 'LeadQualified', data: { leadId, rank: 'SQL', criteria: { need: true, budget: true, authority: true, timing: true } } };
  const lead = foldEvents(decider, [engaged, sql]) as ExistingLead;
  const facts = { pipeline: { first: () => ({ code: 'QUALIFICATION', probability: 10 }), stage: () => undefined }, ownerId: 'bob', requestHash: 'h' };

  it("lands on the contact and the account it belongs to now: nothing new but the opportunity", () => {
    const planned = engagedConversionRequest(lead, { leadId }, 'acc-now');
    expect(planned).toEqual({ leadId, existingContactId: 'c-marta', account: { existingAccountId: 'acc-now' } });
    const { data } = planConversion(lead, planned, { ...facts, existingContactAccountId: 'acc-now' });
    expect(data).toMatchObject({ accountId: 'acc-now', contactId: 'c-marta', opportunityId: conversionIds(leadId, 1).opportunityId });
    expect(data.newAccount).toBeUndefined();
    expect(data.newContact).toBeUndefined();
    expect(data.movedContact).toBeUndefined();
    expect(data.newOpportunity).toMatchObject({ accountId: 'acc-now', contactId: 'c-marta', name: 'Displays' });
  });

  it('takes the account the request names, moving the contact there', () => {
    const planned = engagedConversionRequest(lead, { leadId, account: { existingAccountId: 'acc-other' } }, 'acc-now');
    const { data } = planConversion(lead, planned, { ...facts, existingContactAccountId: 'acc-now' });
    expect(data).toMatchObject({ accountId: 'acc-other', contactId: 'c-marta', movedContact: { previousAccountId: 'acc-now' } });
  });

  it('refuses another contact', () => {
    expect(() => engagedConversionRequest(lead, { leadId, existingContactId: 'c-other' }, 'acc-now')).toThrow(ValidationError);
    expect(engagedConversionRequest(lead, { leadId, existingContactId: 'c-marta' }, undefined)).toEqual({
      leadId,
      existingContactId: 'c-marta',
      account: undefined,
    });
  });

  it('leaves the request of a lead captured as a stranger as it is', () => {
    const stranger = { ...lead, contactId: undefined };
    const request = { leadId, existingContactId: 'c-other' };
    expect(engagedConversionRequest(stranger, request, 'acc-now')).toBe(request);
  });
});

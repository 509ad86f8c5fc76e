import { describe, expect, it } from 'vitest';
import { DEFAULT_DISQUALIFICATION_REASONS, ReasonCatalog } from '../reasons';
import { foldEvents } from '../../core/decider';
import { InvalidTransitionError, ValidationError } from '../../core/errors';
import { deciderSpecification } from '../../core/testing/deciderSpecification';
import { conversionFollowUps, conversionIds, planConversion, type ConversionRequest } from './conversion';
import { createLeadDecider } from './decide';
import type { ExistingLead, LeadEvent } from './lead';

const decider = createLeadDecider({ disqualificationReasons: new ReasonCatalog(DEFAULT_DISQUALIFICATION_REASONS) });
const given = deciderSpecification(decider);
const leadId = 'lead-7';
const criteria = { need: true, budget: true, authority: true, timing: true };
const captured: LeadEvent = {
  type: 'LeadCaptured',
  data: {
    leadId,
    source: 'INBOUND_EMAIL',
    person: { firstName: 'Marta', lastName: 'Puig', email: 'marta@botiga-puig.example' },
    company: { name: 'Botiga Puig', website: 'botiga-puig.example' },
    interest: { product: 'Shop refurbishment', estimatedValue: { amount: '18500.00', currency: 'EUR' } },
  },
};
const sql: LeadEvent = { type: 'LeadQualified', data: { leadId, rank: 'SQL', criteria } };
const mql: LeadEvent = { type: 'LeadQualified', data: { leadId, rank: 'MQL', criteria } };

const pipeline = {
  first: () => ({ code: 'QUALIFICATION', probability: 10 }),
  stage: (code: string) =>
    ({ QUALIFICATION: { code, probability: 10 }, PREPARING_QUOTE: { code, probability: 50 } })[code],
};
const plan = (events: LeadEvent[], request: Omit<ConversionRequest, 'leadId'> = {}, existingContactAccountId?: string) =>
  planConversion(foldEvents(decider, events) as ExistingLead, { leadId, ...request }, {
    pipeline,
    ownerId: 'alice',
    existingContactAccountId,
    requestHash: 'hash-1',
  });

describe('planning a conversion (B2B)', () => {
  it('unpacks the backpack into a new account, contact and opportunity with ids derived from the lead', () => {
    const ids = conversionIds(leadId, 1);
    const { data } = plan([captured, sql]);
    expect(data).toMatchObject({
      accountId: ids.accountId,
      contactId: ids.contactId,
      opportunityId: ids.opportunityId,
      newAccount: { kind: 'COMPANY', name: 'Botiga Puig', website: 'botiga-puig.example', fromLeadId: leadId },
      newContact: { lastName: 'Puig', email: 'marta@botiga-puig.example', accountId: ids.accountId, fromLeadCycle: 1 },
      newOpportunity: {
        name: 'Shop refurbishment',
        amount: { amount: '18500.00', currency: 'EUR' },
        stage: 'QUALIFICATION',
        probability: 10,
        accountId: ids.accountId,
        contactId: ids.contactId,
        ownerId: 'alice',
      },
    });
    expect(plan([captured, sql])).toEqual(plan([captured, sql]));
  });

  it('attaches to an existing account and reuses a contact, moving it there', () => {
    const { data } = plan([captured, sql], { account: { existingAccountId: 'acc-1' }, existingContactId: 'con-1' }, 'acc-0');
    expect(data).toMatchObject({ accountId: 'acc-1', contactId: 'con-1', movedContact: { previousAccountId: 'acc-0' } });
    expect(data.newAccount).toBeUndefined();
    expect(data.newContact).toBeUndefined();
  });

  it('opens no opportunity when asked not to, and honours a chosen stage', () => {
    expect(plan([captured, sql], { createOpportunity: false }).data.opportunityId).toBeUndefined();
    expect(plan([captured, sql], { opportunity: { stage: 'PREPARING_QUOTE' } }).data.newOpportunity).toMatchObject({
      stage: 'PREPARING_QUOTE',
      probability: 50,
    });
    expect(() => plan([captured, sql], { opportunity: { stage: 'NOPE' } })).toThrow(ValidationError);
  });
});

describe('planning a conversion (B2C)', () => {
  it('attaches the contact to a named grouping, not to a company taken from the lead', () => {
    const { data } = plan([captured, sql], { account: { new: { kind: 'GROUPING', name: 'Barcelona stores' } } });
    expect(data.newAccount).toMatchObject({ kind: 'GROUPING', name: 'Barcelona stores' });
    expect(data.newAccount?.website).toBeUndefined();
  });

  it('refuses an unnamed grouping', () => {
    expect(() => plan([captured, sql], { account: { new: { kind: 'GROUPING' } } })).toThrow(ValidationError);
  });

  it("gives the new contact the consumer's own address, and the grouping none of it", () => {
    const home = { street: 'Carrer del Forn 3, 2n 1a', city: 'Girona', postalCode: '17004', country: 'ES' };
    const consumer: LeadEvent = {
      type: 'LeadCaptured',
      data: { leadId, source: 'WEB_FORM', person: { firstName: 'Marta', lastName: 'Puig', address: home } },
    };
    const { data } = plan([consumer, sql], { account: { new: { kind: 'GROUPING', name: 'Girona stores' } } });
    expect(data.newContact).toMatchObject({ lastName: 'Puig', address: home });
    expect(data.newAccount?.address).toBeUndefined();
    const [, contact] = conversionFollowUps({ ...data, cycle: 1 });
    expect(contact!.events).toEqual([{ type: 'ContactCreated', data: expect.objectContaining({ address: home }) }]);
  });
});

describe('ConvertLead decisions', () => {
  it('converts an SQL', () => {
    const command = plan([captured, sql]);
    given([captured, sql]).when(command).then([{ type: 'LeadConverted', data: { ...JSON.parse(JSON.stringify(command.data)), cycle: 1 } }]);
  });

  it('refuses an MQL: sales must certify it as SQL first', () => {
    given([captured, mql])
      .when(plan([captured, sql]))
      .thenThrows(InvalidTransitionError, (e) => expect(e.message).toMatch(/SQL/));
  });

  it('refuses a lead that is not qualified', () => {
    given([captured]).when(plan([captured, sql])).thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('NEW'));
  });

  it('records nothing for the same conversion again, and refuses a different one', () => {
    const command = plan([captured, sql]);
    const converted: LeadEvent = { type: 'LeadConverted', data: { ...command.data, cycle: 1 } };
    given([captured, sql, converted]).when(command).thenNothingHappened();
    given([captured, sql, converted])
      .when({ ...command, data: { ...command.data, requestHash: 'other' } })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('CONVERTED'));
  });

  it('leaves a converted lead read-only', () => {
    const converted: LeadEvent = { type: 'LeadConverted', data: { ...plan([captured, sql]).data, cycle: 1 } };
    given([captured, sql, converted])
      .when({ type: 'LogLeadContact', data: { leadId, channel: 'CALL', outcome: 'REACHED' } })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('CONVERTED'));
  });
});

describe('conversion follow-ups', () => {
  it('open the account, contact and opportunity streams', () => {
    const { data } = plan([captured, sql]);
    const followUps = conversionFollowUps({ ...data, cycle: 1 });
    expect(followUps.map((f) => [f.streamId, f.events.map((e) => e.type), f.opensStream])).toEqual([
      [`account-${data.accountId}`, ['AccountOpened'], true],
      [`contact-${data.contactId}`, ['ContactCreated'], true],
      [`opportunity-${data.opportunityId}`, ['OpportunityOpened'], true],
    ]);
  });

  it('link and move a reused contact instead of creating one', () => {
    const { data } = plan([captured, sql], { account: { existingAccountId: 'acc-1' }, existingContactId: 'con-1', createOpportunity: false }, 'acc-0');
    expect(conversionFollowUps({ ...data, cycle: 1 })).toEqual([
      {
        streamId: 'contact-con-1',
        opensStream: false,
        events: [
          { type: 'ContactLinkedToLead', data: { contactId: 'con-1', leadId, cycle: 1 } },
          { type: 'ContactMovedToAccount', data: { contactId: 'con-1', accountId: 'acc-1', previousAccountId: 'acc-0' } },
        ],
      },
    ]);
  });
});

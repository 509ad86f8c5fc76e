import { describe, it, expect } from 'vitest';
import { DEFAULT_DISQUALIFICATION_REASONS, ReasonCatalog } from '../reasons';
import { InvalidTransitionError, NotFoundError, ValidationError } from '../../core/errors';
import { deciderSpecification } from '../../core/testing/deciderSpecification';
import { createLeadDecider } from './decide';
import type { LeadEvent } from './lead';

const given = deciderSpecification(
  createLeadDecider({ disqualificationReasons: new ReasonCatalog(DEFAULT_DISQUALIFICATION_REASONS) }),
);

const leadId = 'lead-1';
const captured: LeadEvent = {
  type: 'LeadCaptured',
  data: {
    leadId,
    source: 'INBOUND_EMAIL',
    person: { firstName: 'Marta', lastName: 'Puig', email: 'marta@botiga.example' },
    company: { name: 'Botiga Puig' },
    interest: { product: 'Shop refurbishment' },
  },
};
const reached: LeadEvent = {
  type: 'LeadContactLogged',
  data: { leadId, channel: 'CALL', outcome: 'REACHED' },
};
const criteria = { need: true, budget: true, authority: true, timing: false };
const qualifiedMql: LeadEvent = { type: 'LeadQualified', data: { leadId, rank: 'MQL', criteria } };
const qualifiedSql: LeadEvent = { type: 'LeadQualified', data: { leadId, rank: 'SQL', criteria } };
const disqualified: LeadEvent = {
  type: 'LeadDisqualified',
  data: { leadId, reason: 'NO_BUDGET', statusBefore: 'CONTACTED' },
};

describe('CaptureLead', () => {
  it('records a new lead with its backpack', () => {
    given([])
      .when({ type: 'CaptureLead', data: captured.data as never })
      .then([captured]);
  });

  it('accepts a company without a person', () => {
    given([])
      .when({ type: 'CaptureLead', data: { leadId, source: 'TRADE_FAIR', company: { name: 'Acme' } } })
      .then([{ type: 'LeadCaptured', data: { leadId, source: 'TRADE_FAIR', company: { name: 'Acme' } } }]);
  });

  it("accepts a consumer (B2C): a person with their own address and no company", () => {
    const person = { lastName: 'Puig', address: { street: 'Carrer Nou 12', postalCode: '17001', city: 'Girona' } };
    given([])
      .when({ type: 'CaptureLead', data: { leadId, source: 'WEB_FORM', person } })
      .then([{ type: 'LeadCaptured', data: { leadId, source: 'WEB_FORM', person } }]);
  });

  it('refuses a lead with neither a person nor a company', () => {
    given([])
      .when({ type: 'CaptureLead', data: { leadId, source: 'OTHER' } })
      .thenThrows(ValidationError, (e) => expect(e.fields[0]?.field).toBe('person.lastName'));
  });

  it('refuses to capture the same lead twice', () => {
    given([captured])
      .when({ type: 'CaptureLead', data: captured.data as never })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('NEW'));
  });
});

describe('LogLeadContact', () => {
  it('records each attempt', () => {
    given([captured])
      .when({ type: 'LogLeadContact', data: { leadId, channel: 'CALL', outcome: 'NO_ANSWER' } })
      .then([{ type: 'LeadContactLogged', data: { leadId, channel: 'CALL', outcome: 'NO_ANSWER' } }]);
  });

  it('is refused on a disqualified lead', () => {
    given([captured, disqualified])
      .when({ type: 'LogLeadContact', data: { leadId, channel: 'CALL', outcome: 'REACHED' } })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('DISQUALIFIED'));
  });

  it('is refused on a lead that does not exist', () => {
    given([])
      .when({ type: 'LogLeadContact', data: { leadId, channel: 'CALL', outcome: 'REACHED' } })
      .thenThrows(NotFoundError);
  });
});

describe('LogQuoteRequest', () => {
  it('records that the lead asked for a proposal', () => {
    given([captured, reached])
      .when({ type: 'LogQuoteRequest', data: { leadId, notes: 'wants a price for the shop window' } })
      .then([{ type: 'LeadQuoteRequested', data: { leadId, notes: 'wants a price for the shop window' } }]);
  });

  it('is refused on a disqualified lead', () => {
    given([captured, disqualified])
      .when({ type: 'LogQuoteRequest', data: { leadId } })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('DISQUALIFIED'));
  });
});

describe('UpdateLeadDetails', () => {
  it('records only the compartments that changed', () => {
    given([captured])
      .when({
        type: 'UpdateLeadDetails',
        data: { leadId, company: { name: 'Botiga Puig' }, interest: { product: 'Shop and warehouse' } },
      })
      .then([{ type: 'LeadDetailsUpdated', data: { leadId, interest: { product: 'Shop and warehouse' } } }]);
  });

  it('records nothing when nothing changed, whatever the key order', () => {
    given([captured])
      .when({
        type: 'UpdateLeadDetails',
        data: { leadId, person: { email: 'marta@botiga.example', lastName: 'Puig', firstName: 'Marta' } },
      })
      .thenNothingHappened();
  });

  it("records the person again, whole, when only their address changed", () => {
    const person = { firstName: 'Marta', lastName: 'Puig', email: 'marta@botiga.example', address: { city: 'Girona', country: 'ES' } };
    given([captured])
      .when({ type: 'UpdateLeadDetails', data: { leadId, person } })
      .then([{ type: 'LeadDetailsUpdated', data: { leadId, person } }]);
    given([captured, { type: 'LeadDetailsUpdated', data: { leadId, person } }])
      .when({ type: 'UpdateLeadDetails', data: { leadId, person: { ...person, address: { country: 'ES', city: 'Girona' } } } })
      .thenNothingHappened();
  });
});

describe('AssignLead', () => {
  it('records the new and the previous owner', () => {
    given([captured, { type: 'LeadAssigned', data: { leadId, ownerId: 'alice' } }])
      .when({ type: 'AssignLead', data: { leadId, ownerId: 'bob' } })
      .then([{ type: 'LeadAssigned', data: { leadId, ownerId: 'bob', previousOwnerId: 'alice' } }]);
  });

  it('records nothing when the owner is already the same', () => {
    given([captured, { type: 'LeadAssigned', data: { leadId, ownerId: 'alice' } }])
      .when({ type: 'AssignLead', data: { leadId, ownerId: 'alice' } })
      .thenNothingHappened();
  });
});

describe('QualifyLead', () => {
  it('qualifies a contacted lead as MQL with its criteria', () => {
    given([captured, reached])
      .when({ type: 'QualifyLead', data: { leadId, rank: 'MQL', criteria, notes: 'Wants it before summer' } })
      .then([{ type: 'LeadQualified', data: { leadId, rank: 'MQL', criteria, notes: 'Wants it before summer' } }]);
  });

  it('promotes an MQL to SQL', () => {
    given([captured, reached, qualifiedMql])
      .when({ type: 'QualifyLead', data: { leadId, rank: 'SQL', criteria } })
      .then([qualifiedSql]);
  });

  it('refuses to demote an SQL to MQL', () => {
    given([captured, qualifiedSql])
      .when({ type: 'QualifyLead', data: { leadId, rank: 'MQL', criteria } })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('QUALIFIED'));
  });

  it('refuses to qualify a disqualified lead', () => {
    given([captured, disqualified])
      .when({ type: 'QualifyLead', data: { leadId, rank: 'SQL', criteria } })
      .thenThrows(InvalidTransitionError, (e) => {
        expect(e.state).toBe('DISQUALIFIED');
        expect(e.message).toMatch(/recycle/);
      });
  });

  it('records nothing when qualified again identically', () => {
    given([captured, qualifiedMql]).when({ type: 'QualifyLead', data: { leadId, rank: 'MQL', criteria } }).thenNothingHappened();
  });
});

describe('DisqualifyLead', () => {
  it('records the reason, the notes and the status it left', () => {
    given([captured, reached])
      .when({ type: 'DisqualifyLead', data: { leadId, reason: 'NO_BUDGET', notes: 'Next year maybe' } })
      .then([
        {
          type: 'LeadDisqualified',
          data: { leadId, reason: 'NO_BUDGET', notes: 'Next year maybe', statusBefore: 'CONTACTED' },
        },
      ]);
  });

  it('refuses a reason that is not in the catalog', () => {
    given([captured])
      .when({ type: 'DisqualifyLead', data: { leadId, reason: 'BORED' } })
      .thenThrows(ValidationError, (e) => expect(e.fields).toEqual([expect.objectContaining({ field: 'reason' })]));
  });

  it('refuses to disqualify twice', () => {
    given([captured, disqualified])
      .when({ type: 'DisqualifyLead', data: { leadId, reason: 'NO_NEED' } })
      .thenThrows(InvalidTransitionError);
  });
});

describe('RecycleLead', () => {
  it('starts a new cycle from a later campaign', () => {
    given([captured, disqualified])
      .when({ type: 'RecycleLead', data: { leadId, source: 'EMAIL_CAMPAIGN', campaign: 'spring-2027' } })
      .then([
        { type: 'LeadRecycled', data: { leadId, cycle: 2, source: 'EMAIL_CAMPAIGN', campaign: 'spring-2027' } },
      ]);
  });

  it('keeps counting cycles, and the recycled lead can be qualified again', () => {
    const recycled: LeadEvent = { type: 'LeadRecycled', data: { leadId, cycle: 2, source: 'INBOUND_EMAIL' } };
    given([captured, disqualified, recycled, disqualified])
      .when({ type: 'RecycleLead', data: { leadId } })
      .then([{ type: 'LeadRecycled', data: { leadId, cycle: 3, source: 'INBOUND_EMAIL' } }]);
    given([captured, disqualified, recycled])
      .when({ type: 'QualifyLead', data: { leadId, rank: 'SQL', criteria } })
      .then([qualifiedSql]);
  });

  it('refuses to recycle a lead that is still open', () => {
    given([captured, reached])
      .when({ type: 'RecycleLead', data: { leadId } })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('CONTACTED'));
  });
});

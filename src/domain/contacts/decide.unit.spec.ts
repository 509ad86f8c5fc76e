import { describe, expect, it } from 'vitest';
import { InvalidTransitionError, NotFoundError, ValidationError } from '../../core/errors';
import { deciderSpecification } from '../../core/testing/deciderSpecification';
import { createContactDecider } from './decide';
import type { ContactEvent } from './events';

const given = deciderSpecification(createContactDecider());

const contactId = 'contact-1';
const created: ContactEvent = {
  type: 'ContactCreated',
  data: { contactId, firstName: 'Marta', lastName: 'Puig', email: 'marta@botiga-puig.example', accountId: 'account-1' },
};
const deactivated: ContactEvent = { type: 'ContactDeactivated', data: { contactId, reason: 'Left the company' } };
const reactivated: ContactEvent = { type: 'ContactReactivated', data: { contactId } };

describe('CreateContact', () => {
  it('creates a contact attached to an account', () => {
    given([])
      .when({ type: 'CreateContact', data: created.data as never })
      .then([created]);
  });

  it('creates a contact without an account', () => {
    given([])
      .when({ type: 'CreateContact', data: { contactId, lastName: 'Puig', accountId: undefined } })
      .then([{ type: 'ContactCreated', data: { contactId, lastName: 'Puig' } }]);
  });

  it("creates a consumer's contact with their own address", () => {
    const address = { street: 'Carrer Nou 12', city: 'Girona', postalCode: '17001', country: 'ES' };
    given([])
      .when({ type: 'CreateContact', data: { contactId, lastName: 'Puig', address } })
      .then([{ type: 'ContactCreated', data: { contactId, lastName: 'Puig', address } }]);
  });

  it('refuses a blank last name', () => {
    given([])
      .when({ type: 'CreateContact', data: { contactId, lastName: ' ' } })
      .thenThrows(ValidationError, (e) => expect(e.fields[0]?.field).toBe('lastName'));
  });

  it('refuses to create the same contact twice', () => {
    given([created])
      .when({ type: 'CreateContact', data: created.data as never })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('ACTIVE'));
  });
});

describe('UpdateContact', () => {
  it('records only the fields that changed', () => {
    given([created])
      .when({ type: 'UpdateContact', data: { contactId, firstName: 'Marta', jobTitle: 'Owner', phone: '+34 972 000 000' } })
      .then([{ type: 'ContactUpdated', data: { contactId, jobTitle: 'Owner', phone: '+34 972 000 000' } }]);
  });

  it('records nothing when nothing changed', () => {
    given([created])
      .when({ type: 'UpdateContact', data: { contactId, lastName: 'Puig', email: 'marta@botiga-puig.example' } })
      .thenNothingHappened();
  });

  describe('the address', () => {
    const home = { street: 'Carrer Nou 12', city: 'Girona', postalCode: '17001', country: 'ES' };
    const withHome: ContactEvent = { type: 'ContactCreated', data: { ...(created.data as object), address: home } as never };

    it('records an address given to a contact that had none', () => {
      given([created])
        .when({ type: 'UpdateContact', data: { contactId, address: home } })
        .then([{ type: 'ContactUpdated', data: { contactId, address: home } }]);
    });

    it('replaces the whole address: the fields left out are gone', () => {
      given([withHome])
        .when({ type: 'UpdateContact', data: { contactId, address: { city: 'Figueres', country: 'ES' } } })
        .then([{ type: 'ContactUpdated', data: { contactId, address: { city: 'Figueres', country: 'ES' } } }]);
      given([withHome, { type: 'ContactUpdated', data: { contactId, address: { city: 'Figueres' } } }])
        .when({ type: 'UpdateContact', data: { contactId, address: home } })
        .then([{ type: 'ContactUpdated', data: { contactId, address: home } }]);
    });

    it('records nothing for the same address, whatever the order of its fields and undefined members', () => {
      const reordered = { country: 'ES', postalCode: '17001', city: 'Girona', street: 'Carrer Nou 12', region: undefined };
      given([withHome]).when({ type: 'UpdateContact', data: { contactId, address: reordered } }).thenNothingHappened();
    });

    it('keeps the address when it is absent from an update', () => {
      given([withHome])
        .when({ type: 'UpdateContact', data: { contactId, jobTitle: 'Owner' } })
        .then([{ type: 'ContactUpdated', data: { contactId, jobTitle: 'Owner' } }]);
    });
  });

  it('refuses a blank last name', () => {
    given([created])
      .when({ type: 'UpdateContact', data: { contactId, lastName: '' } })
      .thenThrows(ValidationError, (e) => expect(e.fields[0]?.field).toBe('lastName'));
  });

  it('is refused on an inactive contact', () => {
    given([created, deactivated])
      .when({ type: 'UpdateContact', data: { contactId, jobTitle: 'Owner' } })
      .thenThrows(InvalidTransitionError, (e) => {
        expect(e.state).toBe('INACTIVE');
        expect(e.message).toMatch(/reactivate/);
      });
  });

  it('is refused on a contact that does not exist', () => {
    given([])
      .when({ type: 'UpdateContact', data: { contactId, jobTitle: 'Owner' } })
      .thenThrows(NotFoundError, (e) => expect(e.entity).toBe('Contact'));
  });
});

describe('MoveContact', () => {
  it('moves a contact to another account, naming the one it left', () => {
    given([created])
      .when({ type: 'MoveContact', data: { contactId, accountId: 'account-2' } })
      .then([{ type: 'ContactMovedToAccount', data: { contactId, accountId: 'account-2', previousAccountId: 'account-1' } }]);
  });

  it('takes a contact out of any account', () => {
    given([created])
      .when({ type: 'MoveContact', data: { contactId } })
      .then([{ type: 'ContactMovedToAccount', data: { contactId, previousAccountId: 'account-1' } }]);
  });

  it('attaches a contact that had no account, and sees earlier moves', () => {
    const leftAccount: ContactEvent = { type: 'ContactMovedToAccount', data: { contactId, previousAccountId: 'account-1' } };
    given([created, leftAccount])
      .when({ type: 'MoveContact', data: { contactId, accountId: 'account-1' } })
      .then([{ type: 'ContactMovedToAccount', data: { contactId, accountId: 'account-1' } }]);
  });

  it('records nothing when the contact is already there', () => {
    given([created]).when({ type: 'MoveContact', data: { contactId, accountId: 'account-1' } }).thenNothingHappened();
  });

  it('is refused on an inactive contact', () => {
    given([created, deactivated])
      .when({ type: 'MoveContact', data: { contactId, accountId: 'account-2' } })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('INACTIVE'));
  });

  it('is refused on a contact that does not exist', () => {
    given([]).when({ type: 'MoveContact', data: { contactId } }).thenThrows(NotFoundError);
  });
});

describe('DeactivateContact', () => {
  it('records the deactivation with its reason', () => {
    given([created])
      .when({ type: 'DeactivateContact', data: { contactId, reason: 'Left the company' } })
      .then([deactivated]);
  });

  it('refuses to deactivate twice', () => {
    given([created, deactivated])
      .when({ type: 'DeactivateContact', data: { contactId } })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('INACTIVE'));
  });

  it('is refused on a contact that does not exist', () => {
    given([]).when({ type: 'DeactivateContact', data: { contactId } }).thenThrows(NotFoundError);
  });
});

describe('ReactivateContact', () => {
  it('reactivates an inactive contact, which then accepts updates again', () => {
    given([created, deactivated]).when({ type: 'ReactivateContact', data: { contactId } }).then([reactivated]);
    given([created, deactivated, reactivated])
      .when({ type: 'UpdateContact', data: { contactId, jobTitle: 'Owner' } })
      .then([{ type: 'ContactUpdated', data: { contactId, jobTitle: 'Owner' } }]);
  });

  it('refuses to reactivate an active contact', () => {
    given([created])
      .when({ type: 'ReactivateContact', data: { contactId } })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('ACTIVE'));
  });

  it('is refused on a contact that does not exist', () => {
    given([]).when({ type: 'ReactivateContact', data: { contactId } }).thenThrows(NotFoundError);
  });
});

describe('a contact linked to a lead by conversion', () => {
  it('keeps its details and stays active', () => {
    const linked: ContactEvent = { type: 'ContactLinkedToLead', data: { contactId, leadId: 'lead-9', cycle: 2 } };
    given([created, linked])
      .when({ type: 'UpdateContact', data: { contactId, lastName: 'Puig', jobTitle: 'Owner' } })
      .then([{ type: 'ContactUpdated', data: { contactId, jobTitle: 'Owner' } }]);
  });
});

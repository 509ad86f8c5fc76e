import { describe, expect, it } from 'vitest';
import { InvalidTransitionError, NotFoundError, ValidationError } from '../../core/errors';
import { deciderSpecification } from '../../core/testing/deciderSpecification';
import { createAccountDecider } from './decide';
import type { AccountEvent } from './events';

const given = deciderSpecification(createAccountDecider());

const accountId = 'account-1';
const opened: AccountEvent = {
  type: 'AccountOpened',
  data: {
    accountId,
    kind: 'COMPANY',
    name: 'Botiga Puig',
    website: 'botiga-puig.example',
    address: { city: 'Girona', country: 'ES' },
    ownerId: 'alice',
  },
};

describe('OpenAccount', () => {
  it('opens a company account with its details', () => {
    given([])
      .when({ type: 'OpenAccount', data: opened.data as never })
      .then([opened]);
  });

  it('opens a B2C grouping with nothing but a name', () => {
    given([])
      .when({ type: 'OpenAccount', data: { accountId, kind: 'GROUPING', name: 'Girona stores', phone: undefined } })
      .then([{ type: 'AccountOpened', data: { accountId, kind: 'GROUPING', name: 'Girona stores' } }]);
  });

  it('refuses a blank name', () => {
    given([])
      .when({ type: 'OpenAccount', data: { accountId, kind: 'COMPANY', name: '   ' } })
      .thenThrows(ValidationError, (e) => expect(e.fields).toEqual([expect.objectContaining({ field: 'name' })]));
  });

  it('refuses to open the same account twice', () => {
    given([opened])
      .when({ type: 'OpenAccount', data: opened.data as never })
      .thenThrows(InvalidTransitionError, (e) => expect(e.state).toBe('OPEN'));
  });
});

describe('UpdateAccount', () => {
  it('records only the fields that changed', () => {
    given([opened])
      .when({
        type: 'UpdateAccount',
        data: { accountId, name: 'Botiga Puig', website: 'www.botiga-puig.example', industry: 'Retail' },
      })
      .then([{ type: 'AccountUpdated', data: { accountId, website: 'www.botiga-puig.example', industry: 'Retail' } }]);
  });

  it('replaces the whole address and records a new owner', () => {
    given([opened])
      .when({ type: 'UpdateAccount', data: { accountId, address: { city: 'Figueres' }, ownerId: 'bob' } })
      .then([{ type: 'AccountUpdated', data: { accountId, address: { city: 'Figueres' }, ownerId: 'bob' } }]);
  });

  it('sees earlier updates', () => {
    const renamed: AccountEvent = { type: 'AccountUpdated', data: { accountId, name: 'Botiga Puig i Fills' } };
    given([opened, renamed])
      .when({ type: 'UpdateAccount', data: { accountId, name: 'Botiga Puig' } })
      .then([{ type: 'AccountUpdated', data: { accountId, name: 'Botiga Puig' } }]);
  });

  it('records nothing when nothing changed, whatever the key order', () => {
    given([opened])
      .when({
        type: 'UpdateAccount',
        data: { accountId, name: 'Botiga Puig', address: { country: 'ES', city: 'Girona' }, ownerId: 'alice' },
      })
      .thenNothingHappened();
  });

  it('refuses a blank name', () => {
    given([opened])
      .when({ type: 'UpdateAccount', data: { accountId, name: '' } })
      .thenThrows(ValidationError, (e) => expect(e.fields[0]?.field).toBe('name'));
  });

  it('is refused for an account that was never opened', () => {
    given([])
      .when({ type: 'UpdateAccount', data: { accountId, name: 'Anything' } })
      .thenThrows(NotFoundError, (e) => expect(e.entity).toBe('Account'));
  });
});

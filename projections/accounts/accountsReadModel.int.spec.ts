import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { accountStreamId, type AccountEvent, type AccountOpened } from '../../src/domain/accounts/events';
import { ValidationError } from '../../src/core/errors';
import { ANY, type EventStore } from '../../src/core/eventStore';
import { newId } from '../../src/core/ids';
import { openSqliteEventStore } from '../../src/eventStores/sqlite';
import { opportunityStreamId, type OpportunityEvent } from '../../src/domain/opportunities/events';
import { ProjectionRunner } from '../runner';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { temporaryDirectory } from '../../test/support/leadEvents';
import { accountsProjection, findAccountDuplicates, findAccounts, getAccount } from './accountsReadModel';

describe('accounts read model', () => {
  let directory: ReturnType<typeof temporaryDirectory>;
  let store: EventStore;
  let db: SqlDatabase;
  let runner: ProjectionRunner;

  beforeEach(async () => {
    directory = temporaryDirectory();
    store = openSqliteEventStore({ filename: directory.file('crm.db') });
    db = openSqliteDatabase(directory.file('crm.db'));
    runner = new ProjectionRunner({ store, db, projections: [accountsProjection] });
    await runner.start();
    await runner.whenCaughtUp();
  });

  afterEach(async () => {
    await runner.stop();
    await db.close();
    await store.close();
    directory.remove();
  });

  /** Appends as a command would, then waits for the read model as a mutation does. */
  const record = async (streamId: string, event: AccountEvent | OpportunityEvent, occurredAt = '2024-05-01T09:00:00.000Z') => {
    const commandId = newId();
    const { position } = await store.appendToStream(
      streamId,
      [
        {
          id: newId(),
          type: event.type,
          data: event.data,
          metadata: {
            actor: 'user-alice',
            recordedAt: occurredAt,
            occurredAt,
            correlationId: commandId,
            causationId: commandId,
            schemaVersion: 1,
          },
        },
      ],
      { expectedRevision: ANY },
    );
    await runner.waitForPosition(position);
  };

  const open = (accountId: string, data: Partial<AccountOpened['data']> = {}, occurredAt?: string) =>
    record(
      accountStreamId(accountId),
      { type: 'AccountOpened', data: { accountId, kind: 'COMPANY', name: accountId, ...data } },
      occurredAt,
    );
  const won = (opportunityId: string, accountId: string) =>
    record(opportunityStreamId(opportunityId), {
      type: 'OpportunityWon',
      data: { opportunityId, accountId, amount: { amount: '1000.00', currency: 'EUR' }, stage: 'DECISION_PENDING' },
    });
  const reopened = (opportunityId: string, accountId: string, previousStatus: 'WON' | 'LOST') =>
    record(opportunityStreamId(opportunityId), {
      type: 'OpportunityReopened',
      data: { opportunityId, accountId, reason: 'Customer changed their mind', previousStatus, stage: 'DECISION_PENDING' },
    });
  const statusOf = async (accountId: string) => (await getAccount(db, accountId))?.status;

  it('shows an opened and updated account with its company domain', async () => {
    await open(
      'acc-puig',
      {
        name: "L'Òptica Puig, S.L.",
        website: 'https://www.Optica-Puig.example/botiga',
        address: { city: 'Girona' },
        ownerId: 'user-bob',
        fromLeadId: 'lead-1',
      },
      '2024-05-01T09:00:00+02:00',
    );
    expect(await getAccount(db, 'acc-puig')).toMatchObject({
      id: 'acc-puig',
      revision: 0,
      kind: 'COMPANY',
      status: 'PROSPECT',
      name: "L'Òptica Puig, S.L.",
      domain: 'optica-puig.example',
      address: { city: 'Girona' },
      ownerId: 'user-bob',
      fromLeadId: 'lead-1',
      createdAt: '2024-05-01T07:00:00.000Z',
      createdBy: 'user-alice',
    });

    await record(
      accountStreamId('acc-puig'),
      { type: 'AccountUpdated', data: { accountId: 'acc-puig', website: 'puig-optics.example', industry: 'Retail' } },
      '2024-06-01T09:00:00.000Z',
    );
    expect(await getAccount(db, 'acc-puig')).toMatchObject({
      revision: 1,
      name: "L'Òptica Puig, S.L.",
      domain: 'puig-optics.example',
      industry: 'Retail',
      fromLeadId: 'lead-1',
      createdAt: '2024-05-01T07:00:00.000Z',
      updatedAt: '2024-06-01T09:00:00.000Z',
    });
    expect(await getAccount(db, 'acc-unknown')).toBeUndefined();
  });

  describe('findAccountDuplicates', () => {
    beforeEach(async () => {
      await open('acc-optica', { name: "L'Òptica Puig, S.L.", website: 'https://www.optica-puig.example/' });
      await open('acc-botiga', { name: 'Botiga Puig', website: 'botiga-puig.example' });
      await open('acc-grouping', { kind: 'GROUPING', name: 'Girona stores' });
    });
    const found = async (wanted: Parameters<typeof findAccountDuplicates>[1]) =>
      (await findAccountDuplicates(db, wanted)).map(({ id, matchedOn }) => `${id}:${matchedOn}`);

    it('finds an account by its name however it is spelt', async () => {
      for (const name of ['l optica puig', 'LOptica Puig', 'L’ÒPTICA PUIG SL', "L'Optica  puig s.a."]) {
        expect(await found({ name }), name).toEqual(['acc-optica:NAME']);
      }
      expect(await found({ name: 'girona STORES' })).toEqual(['acc-grouping:NAME']);
    });

    it('finds an account by the company domain of a website or an e-mail', async () => {
      expect(await found({ website: 'optica-puig.example/contact' })).toEqual(['acc-optica:DOMAIN']);
      expect(await found({ email: 'Marta@Botiga-Puig.example' })).toEqual(['acc-botiga:DOMAIN']);
      expect(await found({ name: 'Something Else', website: 'http://botiga-puig.example', email: 'x@optica-puig.example' })).toEqual([
        'acc-botiga:DOMAIN',
        'acc-optica:DOMAIN',
      ]);
      expect(await found({ name: 'Botiga Puig SL', website: 'botiga-puig.example' })).toEqual(['acc-botiga:NAME']);
    });

    it('finds nothing for other names, free-mail addresses or nothing at all', async () => {
      expect(await found({ name: 'Botiga Pujol', email: 'marta@gmail.com' })).toEqual([]);
      expect(await found({ name: 'Optica', website: 'optica.example' })).toEqual([]);
      expect(await found({ name: '  ', website: 'not a website' })).toEqual([]);
      expect(await found({})).toEqual([]);
    });

    it('follows renames and new websites', async () => {
      await record(accountStreamId('acc-botiga'), {
        type: 'AccountUpdated',
        data: { accountId: 'acc-botiga', name: 'Botiga Puig i Fills', website: 'puigfills.example' },
      });
      expect(await found({ name: 'Botiga Puig', website: 'botiga-puig.example' })).toEqual([]);
      expect(await found({ name: 'botiga puig i fills' })).toEqual(['acc-botiga:NAME']);
      expect(await found({ email: 'jordi@puigfills.example' })).toEqual(['acc-botiga:DOMAIN']);
    });
  });

  describe('derived status', () => {
    it('is PROSPECT until a win, CUSTOMER while any win stands, PROSPECT again once none does', async () => {
      await open('acc-1');
      expect(await statusOf('acc-1')).toBe('PROSPECT');

      await won('opp-1', 'acc-1');
      expect(await statusOf('acc-1')).toBe('CUSTOMER');
      await won('opp-2', 'acc-1');
      await reopened('opp-1', 'acc-1', 'WON');
      expect(await statusOf('acc-1')).toBe('CUSTOMER');
      await reopened('opp-2', 'acc-1', 'WON');
      expect(await statusOf('acc-1')).toBe('PROSPECT');

      await won('opp-2', 'acc-1');
      expect(await statusOf('acc-1')).toBe('CUSTOMER');
      expect((await getAccount(db, 'acc-1'))!.revision).toBe(0);
    });

    it('ignores a reopened lost opportunity and wins of other accounts', async () => {
      await open('acc-1');
      await open('acc-2');
      await won('opp-1', 'acc-1');
      await reopened('opp-9', 'acc-1', 'LOST');
      expect(await statusOf('acc-1')).toBe('CUSTOMER');
      expect(await statusOf('acc-2')).toBe('PROSPECT');
    });

    it('counts a win recorded before the account reached the read model', async () => {
      await won('opp-early', 'acc-late');
      await open('acc-late');
      expect(await statusOf('acc-late')).toBe('CUSTOMER');
    });

    it('applies a redelivered win once', async () => {
      await open('acc-1');
      await won('opp-1', 'acc-1');
      const [win] = await store.readStream(opportunityStreamId('opp-1'));
      await reopened('opp-1', 'acc-1', 'WON');

      await db.transaction((tx) => accountsProjection.apply(tx, win!));

      expect(await statusOf('acc-1')).toBe('PROSPECT');
    });

    it('is the same after a rebuild from the log', async () => {
      await open('acc-1');
      await open('acc-2');
      await won('opp-1', 'acc-1');
      await won('opp-2', 'acc-2');
      await reopened('opp-2', 'acc-2', 'WON');

      await runner.rebuild('accounts');

      expect([await statusOf('acc-1'), await statusOf('acc-2')]).toEqual(['CUSTOMER', 'PROSPECT']);
    });
  });

  describe('findAccounts', () => {
    const names = async (options: Parameters<typeof findAccounts>[1]) =>
      (await findAccounts(db, options)).nodes.map((account) => account.name);

    beforeEach(async () => {
      await open('acc-z', { name: 'Zapateria Núñez', ownerId: 'user-bob', website: 'nunez-shoes.example' });
      await open('acc-a', { name: 'Àvila Reformes', ownerId: 'user-alice' });
      await open('acc-b', { name: 'botiga Puig', ownerId: 'user-bob' });
      await open('acc-g', { kind: 'GROUPING', name: 'Girona stores' });
      await won('opp-1', 'acc-b');
    });

    it('lists alphabetically, ignoring case and accents, and filters on kind, status, owner and search', async () => {
      expect(await names({})).toEqual(['Àvila Reformes', 'botiga Puig', 'Girona stores', 'Zapateria Núñez']);
      expect(await names({ filter: { kind: 'GROUPING' } })).toEqual(['Girona stores']);
      expect(await names({ filter: { status: 'CUSTOMER' } })).toEqual(['botiga Puig']);
      expect(await names({ filter: { status: 'PROSPECT', ownerId: 'user-bob' } })).toEqual(['Zapateria Núñez']);
      expect(await names({ filter: { search: 'NUNEZ' } })).toEqual(['Zapateria Núñez']);
      expect(await names({ filter: { search: 'shoes.example' } })).toEqual(['Zapateria Núñez']);
      expect(await names({ filter: { search: 'avila' } })).toEqual(['Àvila Reformes']);
      expect(await names({ filter: { search: '%' } })).toEqual([]);
      expect((await findAccounts(db, { filter: { ownerId: 'user-bob' } })).totalCount).toBe(2);
    });

    it('walks every account once, page by page', async () => {
      const first = await findAccounts(db, { first: 3 });
      expect(first.nodes.map((a) => a.id)).toEqual(['acc-a', 'acc-b', 'acc-g']);
      expect(first).toMatchObject({ totalCount: 4, hasNextPage: true });

      await open('acc-c', { name: 'Casa Bonet' });
      const second = await findAccounts(db, { first: 3, after: first.endCursor });
      expect(second.nodes.map((a) => a.id)).toEqual(['acc-z']);
      expect(second).toMatchObject({ totalCount: 5, hasNextPage: false });
      await expect(findAccounts(db, { after: 'not-a-cursor' })).rejects.toBeInstanceOf(ValidationError);
    });

    it('tells the count of a filter on a page past its last account, and on a page of none', async () => {
      const bobs = await findAccounts(db, { first: 5, filter: { ownerId: 'user-bob' } });
      expect(bobs).toMatchObject({ totalCount: 2, hasNextPage: false });
      expect(await findAccounts(db, { first: 5, after: bobs.endCursor, filter: { ownerId: 'user-bob' } })).toMatchObject({
        nodes: [],
        totalCount: 2,
        hasNextPage: false,
      });
      expect(await findAccounts(db, { first: 0, filter: { search: 'puig' } })).toMatchObject({ nodes: [], totalCount: 1, hasNextPage: true });
      expect(await findAccounts(db, { filter: { ownerId: 'user-nobody' } })).toMatchObject({ nodes: [], totalCount: 0 });
    });
  });
});

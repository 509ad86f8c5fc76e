/**
 * A conversion back-dated onto an existing contact whose last fact is later than the conversion:
 * the follow-ups on the contact's stream keep its times in order, and the conversion completer
 * (the path after a crash) stamps exactly the events the live path does.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readStreamOrEmpty } from '../core/commandHandler';
import { NO_STREAM, type EventStore, type RecordedEvent } from '../core/eventStore';
import { contactStreamId } from '../domain/contacts/events';
import { conversionIds } from '../domain/leads/conversion';
import { leadStreamId } from '../domain/leads/lead';
import { createInMemoryEventStore } from '../eventStores/inMemory';
import { openSqliteDatabase, type SqlDatabase } from '../../projections/sqlDatabase';
import { eventsInWindow } from './asOf';
import { completeConversion, ConversionCompleter, type RecordedLeadConverted } from './conversionCompleter';

const DAY = 86_400_000;
const NOW = new Date(Date.UTC(2026, 2, 20, 12));
const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

const metadata = (occurredAt: string, recordedAt = occurredAt) => ({
  actor: 'alice',
  occurredAt,
  recordedAt,
  correlationId: 'corr',
  causationId: 'cause',
  schemaVersion: 1,
});

const leadId = 'lead-1';
const contactId = 'contact-9';
const ids = conversionIds(leadId, 1);

/**
 * The contact was created 10 days ago on account-old and updated 2 days ago; the lead is
 * converted today, back-dated to 5 days ago, into a new account, attaching that contact.
 */
const given = async (store: EventStore): Promise<RecordedLeadConverted> => {
  await store.appendToStream(contactStreamId(contactId), [
    { id: 'c-0', type: 'ContactCreated', data: { contactId, lastName: 'Puig', accountId: 'account-old' }, metadata: metadata(ago(10)) },
    { id: 'c-1', type: 'ContactUpdated', data: { contactId, phone: '+34 600 000 000' }, metadata: metadata(ago(2)) },
  ], { expectedRevision: NO_STREAM });
  await store.appendToStream(leadStreamId(leadId), [
    {
      id: 'l-0',
      type: 'LeadConverted',
      data: {
        leadId,
        cycle: 1,
        accountId: ids.accountId,
        newAccount: { accountId: ids.accountId, kind: 'COMPANY', name: 'Botiga Puig', fromLeadId: leadId },
        contactId,
        movedContact: { previousAccountId: 'account-old' },
        opportunityId: ids.opportunityId,
        newOpportunity: {
          opportunityId: ids.opportunityId,
          accountId: ids.accountId,
          contactId,
          name: 'Shop refit',
          stage: 'QUALIFICATION',
          probability: 10,
          fromLeadId: leadId,
        },
        requestHash: 'hash',
      },
      metadata: metadata(ago(5), NOW.toISOString()),
    },
  ], { expectedRevision: NO_STREAM });
  return (await store.readStream(leadStreamId(leadId)))[0] as RecordedLeadConverted;
};

const times = (events: readonly RecordedEvent[]) =>
  events.map((event) => [event.type, event.metadata.occurredAt, event.metadata.recordedAt]);

const expectTimesInOrder = (events: readonly RecordedEvent[]) => {
  for (const [index, event] of events.entries()) {
    if (index === 0) continue;
    const before = events[index - 1]!.metadata;
    expect(Date.parse(event.metadata.occurredAt)).toBeGreaterThanOrEqual(Date.parse(before.occurredAt));
    expect(Date.parse(event.metadata.recordedAt)).toBeGreaterThanOrEqual(Date.parse(before.recordedAt));
  }
};

let completer: ConversionCompleter | undefined;
let db: SqlDatabase | undefined;

afterEach(async () => {
  await completer?.stop();
  await db?.close();
  completer = undefined;
  db = undefined;
});

describe('follow-ups of a conversion back-dated before the contact\'s last fact', () => {
  it('never go back in time on the contact stream, in the live path', async () => {
    const store = createInMemoryEventStore();
    const converted = await given(store);
    const later = new Date(NOW.getTime() + 1000);
    await completeConversion(store, converted, later);

    const contact = await readStreamOrEmpty(store, contactStreamId(contactId));
    expect(times(contact)).toEqual([
      ['ContactCreated', ago(10), ago(10)],
      ['ContactUpdated', ago(2), ago(2)],
      // Not 5 days ago: the contact's last fact, 2 days ago, had already happened by then.
      ['ContactLinkedToLead', ago(2), later.toISOString()],
      ['ContactMovedToAccount', ago(2), later.toISOString()],
    ]);
    expectTimesInOrder(contact);

    // The streams the conversion opens keep its own business time.
    const [account] = await readStreamOrEmpty(store, `account-${ids.accountId}`);
    const [opportunity] = await readStreamOrEmpty(store, `opportunity-${ids.opportunityId}`);
    expect(account!.metadata.occurredAt).toBe(ago(5));
    expect(opportunity!.metadata.occurredAt).toBe(ago(5));

    // Every time-travel window keeps a prefix of the contact's stream, so folding it gives a state it really had.
    for (const event of contact) {
      for (const window of [{ asOf: new Date(event.metadata.occurredAt) }, { knownAt: new Date(event.metadata.recordedAt) }]) {
        const kept = eventsInWindow(contact, window);
        expect(kept).toEqual(contact.slice(0, kept.length));
      }
    }
    // As of the conversion's date, the contact was still on its old account: the move had not happened.
    expect(eventsInWindow(contact, { asOf: new Date(ago(4)) }).map((event) => event.type)).toEqual(['ContactCreated']);
  });

  it('are stamped alike by the completer after a crash before the follow-ups', async () => {
    const live = createInMemoryEventStore();
    const recovered = createInMemoryEventStore();
    const later = new Date(NOW.getTime() + 1000);
    await completeConversion(live, await given(live), later);
    await given(recovered);

    db = openSqliteDatabase(':memory:');
    completer = new ConversionCompleter(recovered, db, () => later);
    await completer.start();
    const deadline = Date.now() + 5000;
    while ((await readStreamOrEmpty(recovered, `opportunity-${ids.opportunityId}`)).length === 0) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    for (const streamId of [contactStreamId(contactId), `account-${ids.accountId}`, `opportunity-${ids.opportunityId}`]) {
      const strip = (events: RecordedEvent[]) => events.map(({ position: _position, ...event }) => event);
      expect(strip(await readStreamOrEmpty(recovered, streamId))).toEqual(strip(await readStreamOrEmpty(live, streamId)));
    }
    expectTimesInOrder(await readStreamOrEmpty(recovered, contactStreamId(contactId)));
  });

  it('are completed by a completer whose store was unavailable for a moment, once it answers again', async () => {
    const store = createInMemoryEventStore();
    await given(store);
    // The first two subscriptions end as PostgreSQL ends a connection when it restarts (57P01).
    let ended = 0;
    const restarting: EventStore = {
      ...store,
      subscribeToAll: (options) => {
        if (ended >= 2) return store.subscribeToAll(options);
        ended += 1;
        const terminated = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
        setTimeout(() => options.onError?.(terminated), 0);
        return { stop: async () => undefined };
      },
    };
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      db = openSqliteDatabase(':memory:');
      completer = new ConversionCompleter(restarting, db, () => NOW);
      await completer.start();
      await expect.poll(async () => (await readStreamOrEmpty(store, `opportunity-${ids.opportunityId}`)).length, { timeout: 5000 }).toBe(1);
      expect(ended).toBe(2);
      expect(logged.mock.calls.map(([message]) => String(message))).toEqual([
        expect.stringMatching(/^Conversion completer: the store is unavailable \(terminating connection .*\); starting again in 100 ms$/),
        expect.stringMatching(/starting again in 200 ms$/),
      ]);
    } finally {
      logged.mockRestore();
    }
  });

  it('are left to whoever wrote them when the completer is told to skip past them (the bulk seed), and only while it rests', async () => {
    const store = createInMemoryEventStore();
    await given(store);
    db = openSqliteDatabase(':memory:');
    completer = new ConversionCompleter(store, db, () => NOW);
    await completer.skipTo(await store.headPosition());
    await completer.start();
    await expect(completer.skipTo(await store.headPosition())).rejects.toThrow(/only while stopped/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await readStreamOrEmpty(store, `opportunity-${ids.opportunityId}`)).toEqual([]);
  });

  it('are recorded after the contact\'s last recording and after the conversion itself, whatever the clock says', async () => {
    const store = createInMemoryEventStore();
    const converted = await given(store);
    // A clock behind the conversion's recording (another instance's, or a raced request's).
    const behind = new Date(NOW.getTime() - 60_000);
    await completeConversion(store, converted, behind);
    const contact = await readStreamOrEmpty(store, contactStreamId(contactId));
    expect(contact.slice(2).map((event) => event.metadata.recordedAt)).toEqual([NOW.toISOString(), NOW.toISOString()]);
    expectTimesInOrder(contact);
  });
});

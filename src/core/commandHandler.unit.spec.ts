import { describe, expect, it } from 'vitest';
import { DEFAULT_DISQUALIFICATION_REASONS, ReasonCatalog } from '../domain/reasons';
import { createInMemoryEventStore } from '../eventStores/inMemory';
import { createLeadDecider, type LeadCommand } from '../domain/leads/decide';
import { leadStreamId } from '../domain/leads/lead';
import { handleCommand, type CommandContext } from './commandHandler';
import { NotFoundError, ValidationError } from './errors';
import { ConcurrencyConflictError, StreamNotFoundError, type EventStore } from './eventStore';
import { IDEMPOTENCY_KEY_USED, idempotencyKeyEventId, idempotencyStreamId } from './idempotencyKeys';
import { deterministicId, newId, withTimeOf } from './ids';

const decider = createLeadDecider({ disqualificationReasons: new ReasonCatalog(DEFAULT_DISQUALIFICATION_REASONS) });
const leadId = 'L1';
const streamId = leadStreamId(leadId);
const now = new Date('2026-11-23T10:00:00.000Z');

const context = (commandId: string, extra: Partial<CommandContext> = {}): CommandContext => ({
  actor: 'alice',
  now,
  commandId,
  commandType: 'Test',
  correlationId: 'corr-1',
  ...extra,
});

const capture: LeadCommand = { type: 'CaptureLead', data: { leadId, source: 'WEB_FORM', person: { lastName: 'Puig' } } };
const contact: LeadCommand = { type: 'LogLeadContact', data: { leadId, channel: 'CALL', outcome: 'REACHED' } };

/** The real in-memory store, with another writer slipping in an event before our next append. */
const withRivalWriter = (store: EventStore, times: number): EventStore => {
  let remaining = times;
  return Object.assign(Object.create(store) as EventStore, {
    readStream: async (id: string) => {
      const events = await store.readStream(id);
      if (remaining-- > 0) {
        await store.appendToStream(
          id,
          [{ ...events.at(-1)!, id: `rival-${remaining}`, type: 'LeadContactLogged', data: contact.data }],
          { expectedRevision: events.length - 1 },
        );
      }
      return events;
    },
  });
};

describe('handleCommand', () => {
  it('stamps every event with the metadata of the command', async () => {
    const store = createInMemoryEventStore();
    const result = await handleCommand(store, decider, streamId, capture, context('cmd-1', { idempotencyKey: 'k', inputHash: 'h' }));
    expect(result.revision).toBe(0);
    const [event] = await store.readStream(streamId);
    expect(event!.id).toBe(deterministicId('cmd-1', 0));
    expect(event!.metadata).toEqual({
      actor: 'alice',
      recordedAt: now.toISOString(),
      occurredAt: now.toISOString(),
      correlationId: 'corr-1',
      causationId: 'cmd-1',
      schemaVersion: 1,
      commandType: 'Test',
      idempotencyKey: 'k',
      inputHash: 'h',
    });
  });

  it('gives the events of a time-ordered command ids that begin with its time, the same when it is retried', async () => {
    const store = createInMemoryEventStore();
    const commandId = newId();
    await handleCommand(store, decider, streamId, capture, context(commandId));
    await handleCommand(store, decider, streamId, capture, context(commandId));
    const events = await store.readStream(streamId);
    expect(events).toHaveLength(1);
    expect(events[0]!.id.slice(0, 13)).toBe(commandId.slice(0, 13));
    expect(events[0]!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(events[0]!.id).toBe(withTimeOf(commandId, deterministicId(commandId, 0)));
  });

  it('retries when another process wrote first, and lands after its event', async () => {
    const store = createInMemoryEventStore();
    await handleCommand(store, decider, streamId, capture, context('cmd-1'));
    const result = await handleCommand(withRivalWriter(store, 2), decider, streamId, contact, context('cmd-2'));
    expect(result.revision).toBe(3);
    const events = await store.readStream(streamId);
    expect(events.map((e) => e.id)).toEqual([deterministicId('cmd-1', 0), 'rival-1', 'rival-0', deterministicId('cmd-2', 0)]);
  });

  it('gives up with a conflict after its bounded retries', async () => {
    const store = createInMemoryEventStore();
    await handleCommand(store, decider, streamId, capture, context('cmd-1'));
    await expect(
      handleCommand(withRivalWriter(store, 10), decider, streamId, contact, context('cmd-2'), { maxRetries: 2 }),
    ).rejects.toBeInstanceOf(ConcurrencyConflictError);
    expect((await store.readStream(streamId)).filter((e) => e.id === deterministicId('cmd-2', 0))).toHaveLength(0);
  });

  it('decides on the stream as it is when a stream said to be fresh already has events', async () => {
    const store = createInMemoryEventStore();
    await handleCommand(store, decider, streamId, capture, context('cmd-1'));
    const fresh = handleCommand(store, decider, streamId, capture, context('cmd-2'), { freshStream: true });
    const asUsual = handleCommand(store, decider, streamId, capture, context('cmd-3'));
    const [freshOutcome, usualOutcome] = await Promise.allSettled([fresh, asUsual]);
    expect(freshOutcome.status).toBe('rejected');
    expect(freshOutcome).toEqual(usualOutcome);
    expect(await store.readStream(streamId)).toHaveLength(1);
  });

  it('never retries a stale revision the client sent', async () => {
    const store = createInMemoryEventStore();
    await handleCommand(store, decider, streamId, capture, context('cmd-1'));
    await handleCommand(store, decider, streamId, contact, context('cmd-2'));
    const attempt = handleCommand(store, decider, streamId, contact, context('cmd-3'), { expectedRevision: 0 });
    await expect(attempt).rejects.toMatchObject({ actualRevision: 1 });
  });

  it('recognises a command it already applied (a retry after a lost answer) and writes nothing', async () => {
    const store = createInMemoryEventStore();
    await handleCommand(store, decider, streamId, capture, context('cmd-1', { inputHash: 'same' }));
    await handleCommand(store, decider, streamId, contact, context('cmd-2', { inputHash: 'x' }));
    const again = await handleCommand(store, decider, streamId, capture, context('cmd-1', { inputHash: 'same' }));
    expect(again).toMatchObject({ replayed: true, revision: 0 });
    expect(again.state).toMatchObject({ status: 'NEW', contactAttempts: 0 });
    expect(await store.readStream(streamId)).toHaveLength(2);
    await expect(
      handleCommand(store, decider, streamId, capture, context('cmd-1', { inputHash: 'different' })),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it('refuses a command on an entity that must exist with NOT_FOUND', async () => {
    const store = createInMemoryEventStore();
    await expect(
      handleCommand(store, decider, streamId, contact, context('cmd-1'), { existingEntity: { type: 'Lead', id: leadId } }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('records a keyed command\'s key on a stream of its own, once, before its events', async () => {
    const store = createInMemoryEventStore();
    const keyed = context('cmd-1', { idempotencyKey: 'k', inputHash: 'h' });
    await handleCommand(store, decider, streamId, capture, keyed);
    await handleCommand(store, decider, streamId, capture, keyed);
    const [keyUse, ...more] = await store.readStream(idempotencyStreamId('cmd-1'));
    expect(more).toEqual([]);
    const data = { commandId: 'cmd-1', commandType: 'Test', streamId, inputHash: 'h' };
    expect(keyUse).toMatchObject({ id: idempotencyKeyEventId(data), type: IDEMPOTENCY_KEY_USED, data });
    expect(keyUse!.metadata).toMatchObject({ actor: 'alice', causationId: 'cmd-1', idempotencyKey: 'k', inputHash: 'h' });
    const [captured] = await store.readStream(streamId);
    expect(store.comparePositions(keyUse!.position, captured!.position)).toBeLessThan(0);
  });

  it('records no key for a command without one, nor for a decision that changes nothing', async () => {
    const store = createInMemoryEventStore();
    await handleCommand(store, decider, streamId, capture, context('cmd-1'));
    const unchanged = await handleCommand(
      store,
      { ...decider, decide: () => [] },
      streamId,
      contact,
      context('cmd-2', { idempotencyKey: 'k', inputHash: 'h' }),
    );
    expect(unchanged.newEvents).toEqual([]);
    for (const commandId of ['cmd-1', 'cmd-2']) {
      await expect(store.readStream(idempotencyStreamId(commandId))).rejects.toBeInstanceOf(StreamNotFoundError);
    }
  });

  it('refuses a key first used on another entity with BAD_USER_INPUT, whatever the expected revision', async () => {
    const store = createInMemoryEventStore();
    const otherStream = leadStreamId('L2');
    await handleCommand(store, decider, streamId, capture, context('cmd-1'));
    await handleCommand(store, decider, otherStream, { ...capture, data: { ...capture.data, leadId: 'L2' } }, context('cmd-2'));
    await handleCommand(store, decider, streamId, contact, context('cmd-3', { idempotencyKey: 'k', inputHash: 'on-L1' }));
    const onOther = context('cmd-3', { idempotencyKey: 'k', inputHash: 'on-L2' });
    const otherContact: LeadCommand = { ...contact, data: { ...contact.data, leadId: 'L2' } };
    for (const expectedRevision of [undefined, 0, 5]) {
      await expect(
        handleCommand(store, decider, otherStream, otherContact, onOther, { expectedRevision }),
      ).rejects.toMatchObject({ name: 'ValidationError', fields: [{ field: 'idempotencyKey' }] });
    }
    expect(await store.readStream(otherStream)).toHaveLength(1);
  });

  describe('authorize', () => {
    it('is given the current state before the decision, and a refusal writes nothing, not even the key', async () => {
      const store = createInMemoryEventStore();
      await handleCommand(store, decider, streamId, capture, context('cmd-1'));
      const seen: unknown[] = [];
      const refusal = new Error('not the owner');
      const attempt = handleCommand(
        store,
        { ...decider, decide: () => expect.fail('decided although refused') },
        streamId,
        contact,
        context('cmd-2', { idempotencyKey: 'k', inputHash: 'h' }),
        {
          authorize: (state) => {
            seen.push(state);
            throw refusal;
          },
        },
      );
      await expect(attempt).rejects.toBe(refusal);
      expect(seen).toEqual([expect.objectContaining({ status: 'NEW', leadId, contactAttempts: 0 })]);
      expect(await store.readStream(streamId)).toHaveLength(1);
      await expect(store.readStream(idempotencyStreamId('cmd-2'))).rejects.toBeInstanceOf(StreamNotFoundError);
    });

    it('is given the initial state for a new entity', async () => {
      const store = createInMemoryEventStore();
      const seen: unknown[] = [];
      await handleCommand(store, decider, streamId, capture, context('cmd-1'), { authorize: (state) => seen.push(state) });
      expect(seen).toEqual([{ status: 'NONE' }]);
    });

    it('is asked again on each retry, with the state another writer left', async () => {
      const store = createInMemoryEventStore();
      await handleCommand(store, decider, streamId, capture, context('cmd-1'));
      const attempts: number[] = [];
      await handleCommand(withRivalWriter(store, 1), decider, streamId, contact, context('cmd-2'), {
        authorize: (state) => attempts.push((state as { contactAttempts: number }).contactAttempts),
      });
      expect(attempts).toEqual([0, 1]);
    });

    it('is not asked when the command is a replay of one already recorded: the replay answers as the first run did', async () => {
      const store = createInMemoryEventStore();
      await handleCommand(store, decider, streamId, capture, context('cmd-1'));
      const keyed = context('cmd-2', { idempotencyKey: 'k', inputHash: 'h' });
      const first = await handleCommand(store, decider, streamId, contact, keyed);
      const again = await handleCommand(store, decider, streamId, contact, keyed, {
        authorize: () => {
          throw new Error('asked on a replay');
        },
      });
      expect(again).toMatchObject({ replayed: true, revision: first.revision, state: first.state });
    });
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_DISQUALIFICATION_REASONS, ReasonCatalog } from '../domain/reasons';
import { createInMemoryEventStore } from '../eventStores/inMemory';
import { createLeadDecider, type LeadCommand } from '../domain/leads/decide';
import { leadStreamId } from '../domain/leads/lead';
import { handleCommand, type CommandContext } from './commandHandler';
import { NotFoundError, ValidationError } from './errors';
import { ConcurrencyConflictError, type EventStore } from './eventStore';
import { deterministicId } from './ids';

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
});

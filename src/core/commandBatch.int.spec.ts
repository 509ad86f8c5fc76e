/**
 * `handleCommandsTogether` on every kind of store: each command answered as `handleCommand`
 * answers it alone (created, replayed, refused), the batch's events stored once, and a batch the
 * store refuses because another writer got to one of its streams first run command by command,
 * with no command counted twice; on EventStoreDB (here its protocol model), whose appends to
 * several streams are not one transaction, command by command from the start, with the same
 * answers.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLeadDecider, type CaptureLead } from '../domain/leads/decide';
import { leadStreamId } from '../domain/leads/lead';
import { DEFAULT_DISQUALIFICATION_REASONS, ReasonCatalog } from '../domain/reasons';
import { openEventStoreDbEventStore } from '../eventStores/eventStoreDb';
import { createInMemoryEventStore } from '../eventStores/inMemory';
import { openPostgresEventStore } from '../eventStores/postgres';
import { openSqliteEventStore } from '../eventStores/sqlite';
import { startEventStoreDbModel, type EventStoreDbModel } from '../../test/support/eventStoreDbModel';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from '../../test/support/postgres';
import { handleCommandsTogether, type BatchedCommand, type BatchedOutcome } from './commandBatch';
import { handleCommand, type CommandContext } from './commandHandler';
import { InvalidTransitionError, ValidationError } from './errors';
import type { EventStore } from './eventStore';
import { IDEMPOTENCY_KEY_USED, idempotencyStreamId } from './idempotencyKeys';
import { deterministicId, digest } from './ids';

const RIVAL_MODULE = './commandHandler.ts?instance=rival';
const decider = createLeadDecider({ disqualificationReasons: new ReasonCatalog(DEFAULT_DISQUALIFICATION_REASONS) });
const now = new Date('2026-11-23T10:00:00.000Z');

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'command-batch-'));
const schemas: string[] = [];
const models: EventStoreDbModel[] = [];
afterAll(async () => {
  fs.rmSync(tempDir, { recursive: true, force: true });
  await dropSchemas(...schemas);
  await Promise.all(models.map((model) => model.close()));
});

const stores: [string, () => Promise<EventStore>][] = [
  ['in-memory', async () => createInMemoryEventStore()],
  ['SQLite', async () => openSqliteEventStore({ filename: path.join(tempDir, `${randomUUID()}.sqlite`) })],
  [
    'PostgreSQL',
    async () => {
      const schema = aSchemaName('batch');
      schemas.push(schema);
      return openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema });
    },
  ],
  [
    'EventStoreDB protocol model (not the server)',
    async () => {
      const model = await startEventStoreDbModel({});
      models.push(model);
      return openEventStoreDbEventStore({ connectionString: model.url });
    },
  ],
];

/**
 * A capture as an import row makes it: keyed (the lead's id derives from the key; `keyNamesStream`
 * as importLeads sends it) or not.
 */
const aCapture = (
  lastName: string,
  options: { key?: string; correlationId?: string; leadId?: string; keyNamesStream?: boolean } = {},
): BatchedCommand<CaptureLead> => {
  const commandId = options.key ? deterministicId('alice', 'CaptureLead', options.key) : randomUUID();
  const leadId = options.leadId ?? (options.key ? deterministicId(commandId, 'lead') : randomUUID());
  const data = { leadId, source: 'WEB_FORM' as const, person: { lastName } };
  const context: CommandContext = {
    actor: 'alice',
    now,
    commandId,
    commandType: 'CaptureLead',
    correlationId: options.correlationId ?? 'request-1',
    ...(options.key ? { idempotencyKey: options.key, inputHash: digest({ lastName }) } : {}),
  };
  return { streamId: leadStreamId(leadId), command: { type: 'CaptureLead', data }, context, freshStream: !options.key, keyNamesStream: options.keyNamesStream };
};

const outcomeOf = (outcome: BatchedOutcome<unknown>) =>
  'error' in outcome ? (outcome.error as Error).name : outcome.result.replayed ? 'replayed' : 'created';

const typesOn = async (store: EventStore, streamId: string) => (await store.readStream(streamId).catch(() => [])).map((event) => event.type);

for (const [name, open] of stores) for (const keyNamesStream of [false, true]) {
  describe(`handleCommandsTogether on ${name}${keyNamesStream ? ', streams named after their keys' : ''}`, () => {
    const capture = (lastName: string, options: Parameters<typeof aCapture>[1] = {}) => aCapture(lastName, { ...options, keyNamesStream });

    it(`answers each command as handleCommand would, and stores each new one once, ${keyNamesStream ? 'recording no key stream' : 'its key first'}`, async () => {
      const store = await open();
      try {
        const before = capture('Before', { key: 'before' });
        await handleCommand(store, decider, before.streamId, before.command, before.context, { keyNamesStream });
        const keyed = capture('Keyed', { key: 'keyed' });
        const unkeyed = capture('Unkeyed');
        const nameless = capture('');
        const reused = capture('Not the same input', { key: 'before' });
        const batch = [keyed, unkeyed, nameless, before, reused, keyed];

        const outcomes = await handleCommandsTogether(store, decider, batch);
        expect(outcomes.map(outcomeOf)).toEqual(['created', 'created', 'ValidationError', 'replayed', 'ValidationError', 'replayed']);
        expect((outcomes[2] as { error: unknown }).error).toBeInstanceOf(ValidationError);
        expect((outcomes[4] as { error: ValidationError }).error.fields).toEqual([expect.objectContaining({ field: 'idempotencyKey' })]);
        expect(await typesOn(store, keyed.streamId)).toEqual(['LeadCaptured']);
        expect(await typesOn(store, unkeyed.streamId)).toEqual(['LeadCaptured']);
        expect(await typesOn(store, before.streamId)).toEqual(['LeadCaptured']);
        // The key's first use precedes the events in the log, as handleCommand records it; or the
        // lead's own event records it.
        const log = (await store.readAll()).filter((event) => [keyed.streamId, idempotencyStreamId(keyed.context.commandId)].includes(event.streamId));
        expect(log.map((event) => event.type)).toEqual(keyNamesStream ? ['LeadCaptured'] : [IDEMPOTENCY_KEY_USED, 'LeadCaptured']);
        // Each answer is the stream's: its revision and the position of its event.
        const [created] = await store.readStream(keyed.streamId);
        expect('result' in outcomes[0]! && outcomes[0].result).toMatchObject({ revision: 0, position: created!.position, replayed: false });
      } finally {
        await store.close();
      }
    });

    it('runs a batch the store refuses command by command: each answered as if alone, nothing written twice', async () => {
      const store = await open();
      try {
        const first = capture('First', { key: 'first' });
        const second = capture('Second');
        // Between the batch's reads and its append, another request uses a row's key with other
        // content, and another command captures a lead on a stream the batch took to be new.
        const raced = capture('Raced', { key: 'raced' });
        const rival = capture('Raced, but not the same', { key: 'raced', correlationId: 'request-2' });
        const taken = capture('Taken');
        const existing = capture('Someone else', { leadId: taken.command.data.leadId, correlationId: 'request-3' });
        // Another instance: a module of its own, whose per-stream locks are not ours.
        const elsewhere = (await import(/* @vite-ignore */ RIVAL_MODULE)) as typeof import('./commandHandler');
        expect(elsewhere.handleCommand).not.toBe(handleCommand);
        let rivals: Promise<unknown> | undefined;
        const runRivals = () =>
          (rivals ??= (async () => {
            await elsewhere.handleCommand(store, decider, rival.streamId, rival.command, rival.context, { keyNamesStream });
            await elsewhere.handleCommand(store, decider, existing.streamId, existing.command, existing.context, { freshStream: true });
          })());
        // The rivals write before the first append of the batch (or, on EventStoreDB, of any of its commands).
        const racing: EventStore = Object.assign(Object.create(store) as EventStore, {
          appendToStream: async (...args: Parameters<EventStore['appendToStream']>) => (await runRivals(), store.appendToStream(...args)),
          appendToStreams: async (appends: Parameters<EventStore['appendToStreams']>[0]) => (await runRivals(), store.appendToStreams(appends)),
        });

        const outcomes = await handleCommandsTogether(racing, decider, [first, second, raced, taken]);
        expect(outcomes.map(outcomeOf)).toEqual(['created', 'created', 'ValidationError', 'InvalidTransitionError']);
        expect((outcomes[2] as { error: ValidationError }).error.fields).toEqual([expect.objectContaining({ field: 'idempotencyKey' })]);
        expect((outcomes[3] as { error: unknown }).error).toBeInstanceOf(InvalidTransitionError);
        for (const command of [first, second, raced, taken]) expect(await typesOn(store, command.streamId)).toEqual(['LeadCaptured']);
        const captured = (await store.readAll()).filter((event) => event.type === 'LeadCaptured');
        expect(captured.map((event) => event.metadata.correlationId).sort()).toEqual(['request-1', 'request-1', 'request-2', 'request-3']);
      } finally {
        await store.close();
      }
    });
  });
}

/**
 * Idempotency keys on every store, at the level of the command handler: a key is bound to the
 * first request that used it (its entity and its input), whichever process the requests reach
 * and in whatever order their reads and appends interleave.
 *
 * "Another instance" is the command handler module loaded a second time: its own in-process
 * stream locks, the same store. It runs to completion just before one of our store calls, at
 * each of the places it could slip in.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as ourInstance from '../src/core/commandHandler';
import type { CommandContext, CommandResult } from '../src/core/commandHandler';
import { ValidationError } from '../src/core/errors';
import type { EventStore, ExpectedRevision, NewEvent, RecordedEvent } from '../src/core/eventStore';
import { IDEMPOTENCY_KEY_USED, idempotencyStreamId } from '../src/core/idempotencyKeys';
import { deterministicId } from '../src/core/ids';
import { createLeadDecider, type LeadCommand } from '../src/domain/leads/decide';
import { leadStreamId, type LeadState } from '../src/domain/leads/lead';
import { DEFAULT_DISQUALIFICATION_REASONS, ReasonCatalog } from '../src/domain/reasons';
import { openEventStoreDbEventStore } from '../src/eventStores/eventStoreDb';
import { createInMemoryEventStore } from '../src/eventStores/inMemory';
import { openPostgresEventStore } from '../src/eventStores/postgres';
import { openSqliteEventStore } from '../src/eventStores/sqlite';
import { TEST_DATABASE_URL, aSchemaName, dropSchemas } from './support/postgres';

type HandlerModule = typeof ourInstance;
const RIVAL_MODULE = '../src/core/commandHandler.ts?instance=rival';
const loadRivalInstance = async (): Promise<HandlerModule> => {
  const rival = (await import(/* @vite-ignore */ RIVAL_MODULE)) as HandlerModule;
  expect(rival.handleCommand).not.toBe(ourInstance.handleCommand);
  return rival;
};

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'idempotency-keys-'));
const schema = aSchemaName('idemkeys');
const opened: EventStore[] = [];
afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await dropSchemas(schema);
  fs.rmSync(tempDir, { recursive: true, force: true });
});

/**
 * An in-memory store whose event ids are unique per stream only, as on EventStoreDB (which has
 * no index by event id): each stream is a store of its own.
 */
const perStreamIdsStore = (): EventStore => {
  const streams = new Map<string, EventStore>();
  const streamStore = (streamId: string) => {
    if (!streams.has(streamId)) streams.set(streamId, createInMemoryEventStore());
    return streams.get(streamId)!;
  };
  return {
    name: 'in-memory-per-stream',
    appendsToStreamsAtomically: false,
    appendToStream: (streamId, events, options) => streamStore(streamId).appendToStream(streamId, events, options),
    appendToStreams: () => Promise.reject(new Error('not needed here')),
    readStream: (streamId, options) => streamStore(streamId).readStream(streamId, options),
    readAll: () => Promise.reject(new Error('not needed here')),
    subscribeToAll: () => {
      throw new Error('not needed here');
    },
    headPosition: () => Promise.resolve(undefined),
    comparePositions: (a, b) => Number(a) - Number(b),
    close: () => Promise.resolve(),
  };
};

const eventStoreUrl = process.env.EVENTSTORE_URL;
const STORES: Array<[string, () => EventStore | Promise<EventStore>]> = [
  ['in-memory', createInMemoryEventStore],
  ['in-memory with event ids unique per stream only (as EventStoreDB)', perStreamIdsStore],
  ['SQLite', () => openSqliteEventStore({ filename: path.join(tempDir, `${randomUUID()}.sqlite`) })],
  ['PostgreSQL', () => openPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema })],
  ...(eventStoreUrl
    ? [['EventStoreDB', () => openEventStoreDbEventStore({ connectionString: eventStoreUrl })] as [string, () => EventStore]]
    : []),
];

const decider = createLeadDecider({ disqualificationReasons: new ReasonCatalog(DEFAULT_DISQUALIFICATION_REASONS) });
const now = new Date();

/** A keyed request as `commandContextFor` builds it: the command id derives from actor, mutation and key. */
const keyed = (commandType: string, key: string, inputHash: string): CommandContext => ({
  actor: 'alice',
  now,
  commandId: deterministicId('alice', commandType, key),
  commandType,
  correlationId: randomUUID(),
  idempotencyKey: key,
  inputHash,
});

const unkeyed = (commandType: string): CommandContext => ({
  actor: 'alice',
  now,
  commandId: randomUUID(),
  commandType,
  correlationId: randomUUID(),
});

const captureOf = (leadId: string, lastName = 'Puig'): LeadCommand => ({
  type: 'CaptureLead',
  data: { leadId, source: 'WEB_FORM', person: { lastName } },
});
const contactOf = (leadId: string, outcome: 'REACHED' | 'NO_ANSWER'): LeadCommand => ({
  type: 'LogLeadContact',
  data: { leadId, channel: 'CALL', outcome },
});

/** Runs `rival` (once) just before our `at`-th store call (1-based), counting reads and appends. */
const rivalBefore = (store: EventStore, at: number, rival: () => Promise<unknown>) => {
  let calls = 0;
  let ran: Promise<unknown> | undefined;
  const runRival = () => (ran ??= rival().catch(() => undefined));
  const beforeCall = async () => {
    if (++calls === at) await runRival();
  };
  const wrapped: EventStore = {
    name: store.name,
    appendsToStreamsAtomically: store.appendsToStreamsAtomically,
    appendToStream: async (...args) => (await beforeCall(), store.appendToStream(...args)),
    appendToStreams: async (appends) => (await beforeCall(), store.appendToStreams(appends)),
    readStream: async (...args) => (await beforeCall(), store.readStream(...args)),
    readAll: (options) => store.readAll(options),
    subscribeToAll: (options) => store.subscribeToAll(options),
    headPosition: () => store.headPosition(),
    comparePositions: (a, b) => store.comparePositions(a, b),
    close: () => store.close(),
  };
  /** When we made fewer calls than `at`, the rival comes after us. */
  return { store: wrapped, finish: runRival };
};

type Outcome = { ok: true; result: CommandResult<LeadState> } | { ok: false; error: unknown };
const settle = (run: Promise<CommandResult<LeadState>>): Promise<Outcome> =>
  run.then(
    (result) => ({ ok: true as const, result }),
    (error: unknown) => ({ ok: false as const, error }),
  );

const expectRefusedKey = (outcome: Outcome | undefined) => {
  expect(outcome?.ok).toBe(false);
  const { error } = outcome as { error: unknown };
  expect(error).toBeInstanceOf(ValidationError);
  expect((error as ValidationError).fields).toEqual([{ field: 'idempotencyKey', message: expect.any(String) }]);
};

const readOrEmpty = (store: EventStore, streamId: string): Promise<RecordedEvent[]> => ourInstance.readStreamOrEmpty(store, streamId);

/** Our request and the rival's, the rival slipping in before our `at`-th store call. */
const race = async (
  store: EventStore,
  rivalInstance: HandlerModule,
  at: number,
  ours: { streamId: string; command: LeadCommand; context: CommandContext; options?: ourInstance.HandleOptions<LeadState> },
  theirs: { streamId: string; command: LeadCommand; context: CommandContext; options?: ourInstance.HandleOptions<LeadState> },
): Promise<[Outcome, Outcome]> => {
  let rivalOutcome: Outcome | undefined;
  const interleaved = rivalBefore(store, at, async () => {
    rivalOutcome = await settle(rivalInstance.handleCommand(store, decider, theirs.streamId, theirs.command, theirs.context, theirs.options));
  });
  const ourOutcome = await settle(
    ourInstance.handleCommand(interleaved.store, decider, ours.streamId, ours.command, ours.context, ours.options),
  );
  await interleaved.finish();
  return [ourOutcome, rivalOutcome!];
};

const PLACES = [1, 2, 3, 4, 5];

describe.each(STORES)('%s', (_name, open) => {
  const openStore = async () => {
    const store = await open();
    opened.push(store);
    return store;
  };

  const capturedLead = async (store: EventStore): Promise<string> => {
    const leadId = randomUUID();
    await ourInstance.handleCommand(store, decider, leadStreamId(leadId), captureOf(leadId), unkeyed('CaptureLead'));
    return leadId;
  };

  it.each(PLACES)(
    'the same key with another input from another instance, before our store call %i: one is applied with its own data, the other refused',
    async (at) => {
      const store = await openStore();
      const rival = await loadRivalInstance();
      const leadId = await capturedLead(store);
      const streamId = leadStreamId(leadId);
      const key = `call-${randomUUID()}`;
      const outcomes = await race(
        store,
        rival,
        at,
        { streamId, command: contactOf(leadId, 'REACHED'), context: keyed('LogLeadContact', key, 'reached') },
        { streamId, command: contactOf(leadId, 'NO_ANSWER'), context: keyed('LogLeadContact', key, 'no-answer') },
      );
      const winners = outcomes.flatMap((outcome, index) => (outcome.ok ? [index] : []));
      expect(winners).toHaveLength(1);
      const winner = winners[0]!;
      expectRefusedKey(outcomes[1 - winner]);
      const wanted = (['REACHED', 'NO_ANSWER'] as const)[winner];
      expect((outcomes[winner] as { result: CommandResult<LeadState> }).result.state).toMatchObject({
        status: wanted === 'REACHED' ? 'CONTACTED' : 'NEW',
        contactAttempts: 1,
      });
      const events = await store.readStream(streamId);
      expect(events.map((event) => [event.type, (event.data as { outcome?: string }).outcome])).toEqual([
        ['LeadCaptured', undefined],
        ['LeadContactLogged', wanted],
      ]);
    },
  );

  it.each(PLACES)(
    'a new entity named after the key, another input from another instance before our store call %i: one is applied, the other refused',
    async (at) => {
      const store = await openStore();
      const rival = await loadRivalInstance();
      const key = `form-${randomUUID()}`;
      const leadId = deterministicId('lead-of', key);
      const streamId = leadStreamId(leadId);
      const outcomes = await race(
        store,
        rival,
        at,
        { streamId, command: captureOf(leadId, 'Abril'), context: keyed('CaptureLead', key, 'abril') },
        { streamId, command: captureOf(leadId, 'Bosch'), context: keyed('CaptureLead', key, 'bosch') },
      );
      const winners = outcomes.flatMap((outcome, index) => (outcome.ok ? [index] : []));
      expect(winners).toHaveLength(1);
      const winner = winners[0]!;
      expectRefusedKey(outcomes[1 - winner]);
      const events = await store.readStream(streamId);
      expect(events.map((event) => (event.data as { person: { lastName: string } }).person.lastName)).toEqual([
        ['Abril', 'Bosch'][winner],
      ]);
    },
  );

  it('a key reused on another entity is BAD_USER_INPUT, with or without the right expectedRevision, and writes nothing', async () => {
    const store = await openStore();
    const [leadA, leadB] = [await capturedLead(store), await capturedLead(store)];
    const key = `call-${randomUUID()}`;
    const onA = () =>
      ourInstance.handleCommand(store, decider, leadStreamId(leadA), contactOf(leadA, 'REACHED'), keyed('LogLeadContact', key, 'on-a'));
    const onB = (expectedRevision?: number) =>
      settle(
        ourInstance.handleCommand(store, decider, leadStreamId(leadB), contactOf(leadB, 'REACHED'), keyed('LogLeadContact', key, 'on-b'), {
          expectedRevision,
        }),
      );
    const first = await onA();
    expectRefusedKey(await onB());
    expectRefusedKey(await onB(0));
    expectRefusedKey(await onB(7));
    expect((await store.readStream(leadStreamId(leadB))).map((event) => event.type)).toEqual(['LeadCaptured']);

    // A plain retry on A still answers the original result and records nothing new.
    const again = await onA();
    expect(again).toMatchObject({ replayed: true, revision: first.revision, position: first.position, newEvents: [] });
    expect(await store.readStream(leadStreamId(leadA))).toHaveLength(2);
    const keyStream = await store.readStream(idempotencyStreamId(deterministicId('alice', 'LogLeadContact', key)));
    expect(keyStream.map((event) => [event.type, event.data])).toEqual([
      [
        IDEMPOTENCY_KEY_USED,
        {
          commandId: deterministicId('alice', 'LogLeadContact', key),
          commandType: 'LogLeadContact',
          streamId: leadStreamId(leadA),
          inputHash: 'on-a',
        },
      ],
    ]);
  });

  it.each(PLACES)(
    'a key sent for two entities at once from two instances, the rival before our store call %i: exactly one is applied',
    async (at) => {
      const store = await openStore();
      const rival = await loadRivalInstance();
      const [leadA, leadB] = [await capturedLead(store), await capturedLead(store)];
      const key = `call-${randomUUID()}`;
      const outcomes = await race(
        store,
        rival,
        at,
        { streamId: leadStreamId(leadA), command: contactOf(leadA, 'REACHED'), context: keyed('LogLeadContact', key, 'on-a') },
        { streamId: leadStreamId(leadB), command: contactOf(leadB, 'REACHED'), context: keyed('LogLeadContact', key, 'on-b') },
      );
      const winners = outcomes.flatMap((outcome, index) => (outcome.ok ? [index] : []));
      expect(winners).toHaveLength(1);
      expectRefusedKey(outcomes[1 - winners[0]!]);
      const contacts = await Promise.all(
        [leadA, leadB].map(async (leadId) => (await store.readStream(leadStreamId(leadId))).length - 1),
      );
      expect(contacts).toEqual(winners[0] === 0 ? [1, 0] : [0, 1]);
    },
  );

  it('a request that dies between recording its key and appending its events is completed by its retry, once', async () => {
    const store = await openStore();
    const leadId = await capturedLead(store);
    const streamId = leadStreamId(leadId);
    const key = `call-${randomUUID()}`;
    const dying: EventStore = {
      ...store,
      name: store.name,
      readStream: (...args) => store.readStream(...args),
      appendToStream: async (id, events, options) => {
        if (id === streamId) throw new Error('the process died');
        return store.appendToStream(id, events, options);
      },
    };
    const request = (target: EventStore, inputHash = 'reached') =>
      ourInstance.handleCommand(target, decider, streamId, contactOf(leadId, 'REACHED'), keyed('LogLeadContact', key, inputHash));

    await expect(request(dying)).rejects.toThrow('the process died');
    expect(await store.readStream(streamId)).toHaveLength(1);
    // The key is taken by the first input: another is refused, the same one completes the work.
    expectRefusedKey(await settle(request(store, 'something else')));
    const completed = await request(store);
    expect(completed).toMatchObject({ replayed: false, revision: 1 });
    const replayed = await request(store);
    expect(replayed).toMatchObject({ replayed: true, revision: 1 });
    expect((await store.readStream(streamId)).map((event) => event.type)).toEqual(['LeadCaptured', 'LeadContactLogged']);
    const commandId = deterministicId('alice', 'LogLeadContact', key);
    expect(await readOrEmpty(store, idempotencyStreamId(commandId))).toHaveLength(1);
  });

  it('identical requests from two instances at once: both answer the same, and it is recorded once', async () => {
    const store = await openStore();
    const rival = await loadRivalInstance();
    const leadId = await capturedLead(store);
    const streamId = leadStreamId(leadId);
    for (const at of PLACES) {
      const key = `call-${randomUUID()}`;
      const request = { streamId, command: contactOf(leadId, 'NO_ANSWER'), context: keyed('LogLeadContact', key, 'same') };
      const outcomes = await race(store, rival, at, request, request);
      expect(outcomes.map((outcome) => (outcome.ok ? 'ok' : outcome.error))).toEqual(['ok', 'ok']);
      const [ours, theirs] = outcomes.map((outcome) => (outcome as { result: CommandResult<LeadState> }).result);
      expect(ours!.state).toEqual(theirs!.state);
    }
    const events = await store.readStream(streamId);
    expect(events.map((event) => event.type)).toEqual(['LeadCaptured', ...PLACES.map(() => 'LeadContactLogged')]);
  });

  // An imported row's lead is named after the row's key, and its first event records the key's
  // use (`keyNamesStream`): no IdempotencyKeyUsed, and the same guarantees, whoever the rival is.
  for (const rivalNamesStream of [true, false]) {
    it.each(PLACES)(
      `a stream named after the key, another input from another instance (${rivalNamesStream ? 'an import' : 'a captureLead'}) before our store call %i: one is applied, the other refused`,
      async (at) => {
        const store = await openStore();
        const rival = await loadRivalInstance();
        const key = `import-${randomUUID()}`;
        const leadId = deterministicId('lead-of', key);
        const streamId = leadStreamId(leadId);
        const outcomes = await race(
          store,
          rival,
          at,
          { streamId, command: captureOf(leadId, 'Abril'), context: keyed('CaptureLead', key, 'abril'), options: { keyNamesStream: true } },
          { streamId, command: captureOf(leadId, 'Bosch'), context: keyed('CaptureLead', key, 'bosch'), options: { keyNamesStream: rivalNamesStream } },
        );
        const winners = outcomes.flatMap((outcome, index) => (outcome.ok ? [index] : []));
        expect(winners).toHaveLength(1);
        const winner = winners[0]!;
        expectRefusedKey(outcomes[1 - winner]);
        const events = await store.readStream(streamId);
        expect(events.map((event) => (event.data as { person: { lastName: string } }).person.lastName)).toEqual([['Abril', 'Bosch'][winner]]);
        const keyUses = await readOrEmpty(store, idempotencyStreamId(deterministicId('alice', 'CaptureLead', key)));
        expect(keyUses).toHaveLength(rivalNamesStream || winner === 0 ? 0 : 1);
      },
    );
  }

  it('a stream named after the key: identical requests from two instances at once both answer, and it is recorded once, without a key stream', async () => {
    const store = await openStore();
    const rival = await loadRivalInstance();
    for (const at of PLACES) {
      const key = `import-${randomUUID()}`;
      const leadId = deterministicId('lead-of', key);
      const request = { streamId: leadStreamId(leadId), command: captureOf(leadId), context: keyed('CaptureLead', key, 'same'), options: { keyNamesStream: true } };
      const outcomes = await race(store, rival, at, request, request);
      expect(outcomes.map((outcome) => (outcome.ok ? 'ok' : outcome.error))).toEqual(['ok', 'ok']);
      expect((await store.readStream(leadStreamId(leadId))).map((event) => event.type)).toEqual(['LeadCaptured']);
      expect(await readOrEmpty(store, idempotencyStreamId(deterministicId('alice', 'CaptureLead', key)))).toEqual([]);
    }
  });

  it('a stream named after the key: a key a dying request recorded first still refuses another input, and the same input completes it', async () => {
    const store = await openStore();
    const key = `import-${randomUUID()}`;
    const leadId = deterministicId('lead-of', key);
    const streamId = leadStreamId(leadId);
    const dying: EventStore = Object.assign(Object.create(store) as EventStore, {
      appendToStream: async (id: string, ...rest: [readonly NewEvent[], { expectedRevision: ExpectedRevision }]) => {
        if (id === streamId) throw new Error('the process died');
        return store.appendToStream(id, ...rest);
      },
    });
    const request = (target: EventStore, lastName: string, options: ourInstance.HandleOptions<LeadState>) =>
      ourInstance.handleCommand(target, decider, streamId, captureOf(leadId, lastName), keyed('CaptureLead', key, lastName), options);

    // A captureLead recorded the key's first use, then died before its lead.
    await expect(request(dying, 'Abril', {})).rejects.toThrow('the process died');
    expectRefusedKey(await settle(request(store, 'Bosch', { keyNamesStream: true })));
    await expect(readOrEmpty(store, streamId)).resolves.toEqual([]);
    expect(await request(store, 'Abril', { keyNamesStream: true })).toMatchObject({ replayed: false, revision: 0 });
    expect(await request(store, 'Abril', { keyNamesStream: true })).toMatchObject({ replayed: true, revision: 0 });
    expectRefusedKey(await settle(request(store, 'Bosch', { keyNamesStream: true })));
    expect((await store.readStream(streamId)).map((event) => (event.data as { person: { lastName: string } }).person.lastName)).toEqual(['Abril']);
  });
});

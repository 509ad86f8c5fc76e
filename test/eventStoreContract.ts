/**
 * What every event store adapter must do, written against the port only so that each adapter
 * runs it unchanged. The store may be shared and already hold events, even receive appends
 * from elsewhere while this runs: every test writes to streams of its own and reads the log
 * from the head it saw first, ignoring events of other streams.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ANY,
  ConcurrencyConflictError,
  NO_STREAM,
  STREAM_EXISTS,
  StreamNotFoundError,
  type EventMetadata,
  type EventStore,
  type GlobalPosition,
  type NewEvent,
  type RecordedEvent,
} from '../src/core/eventStore';

export interface EventStoreContractOptions {
  /** How long a live subscription may take to see an append; polling adapters need longer. */
  liveDeliveryTimeoutMs?: number;
  /**
   * False for stores that dedupe ids per stream only (EventStoreDB has no index by event id).
   * Nothing depends on it: the command handler never reuses an id in another stream.
   */
  indexesEventIdsAcrossStreams?: boolean;
  /** How long to watch for a delivery that must not happen (after stop, after an error). */
  quietPeriodMs?: number;
  /**
   * False for stores without transactions across streams (EventStoreDB): `appendToStreams` then
   * keeps the entries before a refused one.
   */
  appendsToStreamsAtomically?: boolean;
}

const aStreamId = () => `contract-${randomUUID()}`;

const aMetadata = (overrides: Partial<EventMetadata> = {}): EventMetadata => ({
  actor: 'auth0|contract-tester',
  recordedAt: '2024-05-02T08:30:00.000Z',
  occurredAt: '2024-05-01T17:45:12.345Z',
  correlationId: randomUUID(),
  causationId: randomUUID(),
  schemaVersion: 1,
  ...overrides,
});

const anEvent = (data: unknown = { note: randomUUID() }, type = 'ContractEventHappened'): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: aMetadata(),
});

const someEvents = (count: number) => Array.from({ length: count }, () => anEvent());

const rejectionOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('Expected a rejection, the promise resolved');
};

const conflictOf = async (promise: Promise<unknown>) => {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(ConcurrencyConflictError);
  return error as ConcurrencyConflictError;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const idsOf = (events: readonly { id: string }[]) => events.map((event) => event.id);

export function describeEventStoreContract(
  adapterName: string,
  openStore: () => Promise<EventStore>,
  {
    liveDeliveryTimeoutMs = 5000,
    quietPeriodMs = 100,
    indexesEventIdsAcrossStreams = true,
    appendsToStreamsAtomically = true,
  }: EventStoreContractOptions = {},
): void {
  describe(`${adapterName} event store contract`, () => {
    let store: EventStore;

    beforeAll(async () => {
      store = await openStore();
    });

    afterAll(async () => {
      await store?.close();
    });

    const readAllOf = async (streamIds: string[], fromPosition: GlobalPosition | undefined) =>
      (await store.readAll({ fromPosition })).filter((event) => streamIds.includes(event.streamId));

    const expectIncreasing = (positions: GlobalPosition[]) => {
      for (let index = 1; index < positions.length; index++) {
        expect(store.comparePositions(positions[index - 1]!, positions[index]!)).toBeLessThan(0);
      }
    };

    describe('appending', () => {
      it('starts a new stream with NO_STREAM and numbers its events from revision 0', async () => {
        const streamId = aStreamId();
        const events = someEvents(3);

        const result = await store.appendToStream(streamId, events, { expectedRevision: NO_STREAM });

        const stored = await store.readStream(streamId);
        expect(stored.map((event) => event.revision)).toEqual([0, 1, 2]);
        expect(idsOf(stored)).toEqual(idsOf(events));
        expect(stored.every((event) => event.streamId === streamId)).toBe(true);
        expect(result.nextExpectedRevision).toBe(2);
        expect(result.position).toBe(stored[2]!.position);
        expectIncreasing(stored.map((event) => event.position));
      });

      it('gives back type, data and every metadata field exactly as appended', async () => {
        const streamId = aStreamId();
        const withEveryField: NewEvent = {
          id: randomUUID(),
          type: 'LeadCaptured',
          data: {
            person: { firstName: 'Zoë', lastName: "O'Brien \"the\" Ünïcödé 🚀", phone: null },
            estimatedValue: { amount: '12500.50', currency: 'EUR' },
            tags: ['trade-fair', 'vip'],
            score: -3.25,
            consent: false,
            notes: 'line one\nline two',
            nothing: {},
          },
          metadata: aMetadata({
            idempotencyKey: 'client-key-42',
            inputHash: 'sha256:9f86d081884c7d659a2feaa0c55ad015',
            commandType: 'CaptureLead',
            schemaVersion: 3,
          }),
        };
        const withoutOptionalFields = anEvent([1, 'two', { three: 3 }], 'LeadContacted');

        await store.appendToStream(streamId, [withEveryField, withoutOptionalFields], {
          expectedRevision: NO_STREAM,
        });

        const [first, second] = await store.readStream(streamId);
        expect(first).toMatchObject({ id: withEveryField.id, type: 'LeadCaptured' });
        expect(first!.data).toStrictEqual(withEveryField.data);
        expect(first!.metadata).toStrictEqual(withEveryField.metadata);
        expect(second).toMatchObject({ id: withoutOptionalFields.id, type: 'LeadContacted' });
        expect(second!.data).toStrictEqual(withoutOptionalFields.data);
        expect(second!.metadata).toStrictEqual(withoutOptionalFields.metadata);
      });

      it('continues a stream when given the revision of its last event', async () => {
        const streamId = aStreamId();
        await store.appendToStream(streamId, someEvents(2), { expectedRevision: NO_STREAM });

        const result = await store.appendToStream(streamId, someEvents(2), { expectedRevision: 1 });

        expect(result.nextExpectedRevision).toBe(3);
        const stored = await store.readStream(streamId);
        expect(stored.map((event) => event.revision)).toEqual([0, 1, 2, 3]);
        expect(result.position).toBe(stored[3]!.position);
      });

      it('refuses NO_STREAM when the stream exists', async () => {
        const streamId = aStreamId();
        await store.appendToStream(streamId, someEvents(1), { expectedRevision: NO_STREAM });

        const conflict = await conflictOf(
          store.appendToStream(streamId, someEvents(1), { expectedRevision: NO_STREAM }),
        );

        expect(conflict).toMatchObject({ streamId, expectedRevision: NO_STREAM, actualRevision: 0 });
        expect(await store.readStream(streamId)).toHaveLength(1);
      });

      it('refuses STREAM_EXISTS when the stream is missing, and accepts it when it exists', async () => {
        const streamId = aStreamId();

        const conflict = await conflictOf(
          store.appendToStream(streamId, someEvents(1), { expectedRevision: STREAM_EXISTS }),
        );
        expect(conflict).toMatchObject({ expectedRevision: STREAM_EXISTS, actualRevision: NO_STREAM });
        await expect(store.readStream(streamId)).rejects.toBeInstanceOf(StreamNotFoundError);

        await store.appendToStream(streamId, someEvents(2), { expectedRevision: NO_STREAM });
        const result = await store.appendToStream(streamId, someEvents(1), {
          expectedRevision: STREAM_EXISTS,
        });
        expect(result.nextExpectedRevision).toBe(2);
      });

      it('refuses a stale revision and tells the actual one', async () => {
        const streamId = aStreamId();
        await store.appendToStream(streamId, someEvents(3), { expectedRevision: NO_STREAM });

        const conflict = await conflictOf(
          store.appendToStream(streamId, someEvents(1), { expectedRevision: 1 }),
        );

        expect(conflict).toMatchObject({ streamId, expectedRevision: 1, actualRevision: 2 });
        expect(await store.readStream(streamId)).toHaveLength(3);
      });

      it('refuses an exact revision on a missing stream, telling it has none', async () => {
        const streamId = aStreamId();

        const conflict = await conflictOf(
          store.appendToStream(streamId, someEvents(1), { expectedRevision: 0 }),
        );

        expect(conflict.actualRevision).toBe(NO_STREAM);
        await expect(store.readStream(streamId)).rejects.toBeInstanceOf(StreamNotFoundError);
      });

      it('appends with ANY whatever the state of the stream', async () => {
        const streamId = aStreamId();

        const first = await store.appendToStream(streamId, someEvents(1), { expectedRevision: ANY });
        const second = await store.appendToStream(streamId, someEvents(2), { expectedRevision: ANY });

        expect(first.nextExpectedRevision).toBe(0);
        expect(second.nextExpectedRevision).toBe(2);
        expect(await store.readStream(streamId)).toHaveLength(3);
      });

      it('writes nothing of a batch that conflicts', async () => {
        const streamId = aStreamId();
        await store.appendToStream(streamId, someEvents(2), { expectedRevision: NO_STREAM });
        const headBefore = await store.headPosition();
        const batch = someEvents(3);

        await conflictOf(store.appendToStream(streamId, batch, { expectedRevision: 0 }));

        expect(await store.readStream(streamId)).toHaveLength(2);
        expect(await readAllOf([streamId], headBefore)).toEqual([]);
        // Had any of the batch been kept, its ids would now be taken.
        const result = await store.appendToStream(streamId, batch, { expectedRevision: 1 });
        expect(result.nextExpectedRevision).toBe(4);
      });
    });

    describe('retried appends', () => {
      it('returns the original result and writes nothing twice', async () => {
        const streamId = aStreamId();
        const opening = someEvents(2);
        const follow = someEvents(1);
        const openingResult = await store.appendToStream(streamId, opening, {
          expectedRevision: NO_STREAM,
        });
        const followResult = await store.appendToStream(streamId, follow, { expectedRevision: 1 });
        const headBefore = await store.headPosition();

        expect(
          await store.appendToStream(streamId, opening, { expectedRevision: NO_STREAM }),
        ).toEqual(openingResult);
        expect(await store.appendToStream(streamId, follow, { expectedRevision: 1 })).toEqual(
          followResult,
        );

        expect(idsOf(await store.readStream(streamId))).toEqual(idsOf([...opening, ...follow]));
        expect(await store.headPosition()).toBe(headBefore);
      });

      it('recognises a retry made with ANY or STREAM_EXISTS', async () => {
        const streamId = aStreamId();
        await store.appendToStream(streamId, someEvents(1), { expectedRevision: NO_STREAM });
        const events = someEvents(2);
        const original = await store.appendToStream(streamId, events, {
          expectedRevision: STREAM_EXISTS,
        });

        expect(
          await store.appendToStream(streamId, events, { expectedRevision: STREAM_EXISTS }),
        ).toEqual(original);
        expect(await store.appendToStream(streamId, events, { expectedRevision: ANY })).toEqual(
          original,
        );
        expect(await store.readStream(streamId)).toHaveLength(3);
      });

      it('refuses event ids reused at another place', async () => {
        const streamId = aStreamId();
        const otherStreamId = aStreamId();
        const [stored] = someEvents(1);
        await store.appendToStream(streamId, [stored!], { expectedRevision: NO_STREAM });

        const atTheEnd = await conflictOf(
          store.appendToStream(streamId, [stored!], { expectedRevision: 0 }),
        );
        expect(atTheEnd.actualRevision).toBe(0);
        if (indexesEventIdsAcrossStreams) {
          await conflictOf(store.appendToStream(otherStreamId, [stored!], { expectedRevision: NO_STREAM }));
        }
        await conflictOf(
          store.appendToStream(streamId, [stored!, anEvent()], { expectedRevision: NO_STREAM }),
        );

        expect(idsOf(await store.readStream(streamId))).toEqual([stored!.id]);
        if (indexesEventIdsAcrossStreams) {
          await expect(store.readStream(otherStreamId)).rejects.toBeInstanceOf(StreamNotFoundError);
        }
      });
    });

    describe('appending to many streams at once', () => {
      it('appends every entry in order, each checked against the stream as the entries before left it', async () => {
        const streamA = aStreamId();
        const streamB = aStreamId();
        await store.appendToStream(streamB, someEvents(1), { expectedRevision: NO_STREAM });
        const headBefore = await store.headPosition();
        const [a1, a2, b1, a3, b2] = someEvents(5);

        const results = await store.appendToStreams([
          { streamId: streamA, events: [a1!, a2!], expectedRevision: NO_STREAM },
          { streamId: streamB, events: [b1!], expectedRevision: 0 },
          { streamId: streamA, events: [a3!], expectedRevision: 1 },
          { streamId: streamB, events: [b2!], expectedRevision: STREAM_EXISTS },
        ]);

        const read = await readAllOf([streamA, streamB], headBefore);
        expect(idsOf(read)).toEqual(idsOf([a1!, a2!, b1!, a3!, b2!]));
        expect(read.map((event) => [event.streamId, event.revision])).toEqual([
          [streamA, 0],
          [streamA, 1],
          [streamB, 1],
          [streamA, 2],
          [streamB, 2],
        ]);
        expectIncreasing(read.map((event) => event.position));
        expect(results).toEqual([
          { nextExpectedRevision: 1, position: read[1]!.position },
          { nextExpectedRevision: 1, position: read[2]!.position },
          { nextExpectedRevision: 2, position: read[3]!.position },
          { nextExpectedRevision: 2, position: read[4]!.position },
        ]);
        expect(read.at(-1)).toEqual((await store.readStream(streamB)).at(-1));
      });

      it('refuses the first entry whose expected revision is stale, telling the revision it found', async () => {
        const streamA = aStreamId();
        const streamB = aStreamId();
        await store.appendToStream(streamB, someEvents(2), { expectedRevision: NO_STREAM });
        const headBefore = await store.headPosition();
        const opening = someEvents(1);

        const conflict = await conflictOf(
          store.appendToStreams([
            { streamId: streamA, events: opening, expectedRevision: NO_STREAM },
            // Stale: the stream is at 1.
            { streamId: streamB, events: someEvents(1), expectedRevision: 0 },
            { streamId: streamA, events: someEvents(1), expectedRevision: 0 },
          ]),
        );

        expect(conflict.streamId).toBe(streamB);
        expect(conflict.actualRevision).toBe(1);
        expect(await store.readStream(streamB)).toHaveLength(2);
        // What the store says of itself (batches of commands rely on it) is what it does.
        expect(store.appendsToStreamsAtomically).toBe(appendsToStreamsAtomically);
        if (appendsToStreamsAtomically) {
          expect(await readAllOf([streamA, streamB], headBefore)).toEqual([]);
          await expect(store.readStream(streamA)).rejects.toBeInstanceOf(StreamNotFoundError);
        } else {
          expect(idsOf(await store.readStream(streamA))).toEqual(idsOf(opening));
        }
      });

      it('refuses an entry that expects no stream where one was written before, telling its revision', async () => {
        const fresh = aStreamId();
        const existing = aStreamId();
        await store.appendToStream(existing, someEvents(3), { expectedRevision: NO_STREAM });
        const headBefore = await store.headPosition();

        const conflict = await conflictOf(
          store.appendToStreams([
            { streamId: fresh, events: someEvents(1), expectedRevision: NO_STREAM },
            { streamId: existing, events: someEvents(2), expectedRevision: NO_STREAM },
          ]),
        );

        expect(conflict.streamId).toBe(existing);
        expect(conflict.expectedRevision).toBe(NO_STREAM);
        expect(conflict.actualRevision).toBe(2);
        expect(await store.readStream(existing)).toHaveLength(3);
        if (appendsToStreamsAtomically) {
          expect(await readAllOf([fresh, existing], headBefore)).toEqual([]);
          await expect(store.readStream(fresh)).rejects.toBeInstanceOf(StreamNotFoundError);
        }
      });

      it('refuses an entry made stale by an earlier entry of the same call', async () => {
        const streamId = aStreamId();

        const conflict = await conflictOf(
          store.appendToStreams([
            { streamId, events: someEvents(2), expectedRevision: NO_STREAM },
            { streamId, events: someEvents(1), expectedRevision: NO_STREAM },
          ]),
        );

        expect(conflict.streamId).toBe(streamId);
        expect(conflict.actualRevision).toBe(1);
        if (appendsToStreamsAtomically) await expect(store.readStream(streamId)).rejects.toBeInstanceOf(StreamNotFoundError);
      });

      it('answers a retried call with the original results and writes nothing twice', async () => {
        const streamA = aStreamId();
        const streamB = aStreamId();
        const appends = [
          { streamId: streamA, events: someEvents(2), expectedRevision: NO_STREAM },
          { streamId: streamB, events: someEvents(1), expectedRevision: NO_STREAM },
          { streamId: streamA, events: someEvents(1), expectedRevision: 1 },
        ];
        const original = await store.appendToStreams(appends);
        const headBefore = await store.headPosition();

        expect(await store.appendToStreams(appends)).toEqual(original);

        expect(await store.headPosition()).toBe(headBefore);
        expect(idsOf(await store.readStream(streamA))).toEqual(idsOf([...appends[0]!.events, ...appends[2]!.events]));
        // A retried entry beside a new one: the retry answers as before, the new one is appended.
        const next = someEvents(1);
        const [retried, appended] = await store.appendToStreams([appends[1]!, { streamId: streamB, events: next, expectedRevision: 0 }]);
        expect(retried).toEqual(original[1]);
        expect(appended!.nextExpectedRevision).toBe(1);
        expect(idsOf(await store.readStream(streamB))).toEqual(idsOf([...appends[1]!.events, ...next]));
      });

      it('writes new entries once when a retried entry comes after them in the same call', async () => {
        const [retriedStream, newStream] = [aStreamId(), aStreamId()];
        const original = { streamId: retriedStream, events: someEvents(1), expectedRevision: NO_STREAM } as const;
        const [originalResult] = await store.appendToStreams([original]);
        const fresh = someEvents(2);

        // The new entry is written before the retried one is met (SQLite's quick path then gives
        // up and starts again, checking each entry): it must be there once, at revisions 0 and 1.
        const [appended, retried] = await store.appendToStreams([{ streamId: newStream, events: fresh, expectedRevision: NO_STREAM }, original]);

        expect(appended!.nextExpectedRevision).toBe(1);
        expect(retried).toEqual(originalResult);
        expect((await store.readStream(newStream)).map((event) => [event.id, event.revision])).toEqual(fresh.map((event, index) => [event.id, index]));
        expect(await readAllOf([newStream, retriedStream], originalResult!.position)).toHaveLength(2);
      });

      it('refuses an entry whose event id is stored at another place', async () => {
        const streamId = aStreamId();
        const [stored] = someEvents(1);
        await store.appendToStream(streamId, [stored!], { expectedRevision: NO_STREAM });

        await conflictOf(store.appendToStreams([{ streamId, events: [stored!], expectedRevision: 0 }]));

        expect(idsOf(await store.readStream(streamId))).toEqual([stored!.id]);
      });
    });

    describe('reading a stream', () => {
      it('throws StreamNotFoundError for a stream without events', async () => {
        const streamId = aStreamId();

        const error = await rejectionOf(store.readStream(streamId));

        expect(error).toBeInstanceOf(StreamNotFoundError);
        expect(error).toMatchObject({ streamId });
      });

      it('reads from a revision and at most maxCount events', async () => {
        const streamId = aStreamId();
        await store.appendToStream(streamId, someEvents(5), { expectedRevision: NO_STREAM });
        const revisionsOf = async (options: { fromRevision?: number; maxCount?: number }) =>
          (await store.readStream(streamId, options)).map((event) => event.revision);

        expect(await revisionsOf({ fromRevision: 2 })).toEqual([2, 3, 4]);
        expect(await revisionsOf({ maxCount: 2 })).toEqual([0, 1]);
        expect(await revisionsOf({ fromRevision: 1, maxCount: 3 })).toEqual([1, 2, 3]);
        expect(await revisionsOf({ fromRevision: 5 })).toEqual([]);
      });

      it('reads long pages whole: a maxCount of dozens of events, from a revision', async () => {
        const streamId = aStreamId();
        await store.appendToStream(streamId, someEvents(80), { expectedRevision: NO_STREAM });
        const revisionsOf = async (options: { fromRevision?: number; maxCount?: number }) =>
          (await store.readStream(streamId, options)).map((event) => event.revision);
        const from = (first: number, count: number) => Array.from({ length: count }, (_, index) => first + index);

        expect(await revisionsOf({ fromRevision: 3, maxCount: 70 })).toEqual(from(3, 70));
        expect(await revisionsOf({ maxCount: 100 })).toEqual(from(0, 80));
        expect(await revisionsOf({ fromRevision: 10 })).toEqual(from(10, 70));
      });
    });

    describe('reading all', () => {
      it("returns new objects on every read, the caller's own: changing what one read returned changes no other read", async () => {
        // The personal-data layer puts opened values back into the events it reads, in place.
        const streamId = aStreamId();
        const head = await store.headPosition();
        const appended = { ...anEvent(), data: { leadId: 'l1', person: { lastName: 'Roca' }, personalData: { keyId: 'k1' } } };
        await store.appendToStream(streamId, [appended], { expectedRevision: NO_STREAM });
        const change = (events: RecordedEvent[]) => {
          const data = events.find((event) => event.streamId === streamId)!.data as any;
          delete data.personalData;
          data.person.lastName = 'changed';
          data.added = true;
        };
        const before = await readAllOf([streamId], head);
        change(await store.readStream(streamId));
        change(await store.readAll({ fromPosition: head }));
        // The data given to the append, changed after it, changes nothing stored either.
        appended.data.person.lastName = 'changed after';

        expect((await store.readStream(streamId))[0]!.data).toEqual({ leadId: 'l1', person: { lastName: 'Roca' }, personalData: { keyId: 'k1' } });
        expect(await readAllOf([streamId], head)).toEqual(before);
        expect(before[0]!.data).toEqual({ leadId: 'l1', person: { lastName: 'Roca' }, personalData: { keyId: 'k1' } });
      });

      it('reads every stream in the order of the appends, after an exclusive position', async () => {
        const streamA = aStreamId();
        const streamB = aStreamId();
        const headBefore = await store.headPosition();
        const [a1, a2, b1] = someEvents(3);
        await store.appendToStream(streamA, [a1!], { expectedRevision: NO_STREAM });
        await store.appendToStream(streamB, [b1!], { expectedRevision: NO_STREAM });
        await store.appendToStream(streamA, [a2!], { expectedRevision: 0 });

        const read = await readAllOf([streamA, streamB], headBefore);

        expect(idsOf(read)).toEqual(idsOf([a1!, b1!, a2!]));
        expectIncreasing(read.map((event) => event.position));
        expect(read.map((event) => [event.streamId, event.revision])).toEqual([
          [streamA, 0],
          [streamB, 0],
          [streamA, 1],
        ]);
        expect(read[0]).toEqual((await store.readStream(streamA))[0]);
        expect(idsOf(await readAllOf([streamA, streamB], read[0]!.position))).toEqual(
          idsOf([b1!, a2!]),
        );
      });

      it('pages with maxCount without skipping or repeating an event', async () => {
        const streamId = aStreamId();
        const headBefore = await store.headPosition();
        const events = someEvents(7);
        for (const event of events) {
          await store.appendToStream(streamId, [event], { expectedRevision: ANY });
        }

        const everything = await store.readAll({ fromPosition: headBefore });
        const paged: RecordedEvent[] = [];
        let position = headBefore;
        for (;;) {
          const page = await store.readAll({ fromPosition: position, maxCount: 3 });
          expect(page.length).toBeLessThanOrEqual(3);
          if (page.length === 0) break;
          paged.push(...page);
          position = page[page.length - 1]!.position;
        }

        expect(idsOf(paged.slice(0, everything.length))).toEqual(idsOf(everything));
        expect(idsOf(paged.filter((event) => event.streamId === streamId))).toEqual(idsOf(events));
      });

      it('reads a long page whole: a maxCount of dozens of events', async () => {
        const streamId = aStreamId();
        const headBefore = await store.headPosition();
        const events = someEvents(80);
        await store.appendToStream(streamId, events, { expectedRevision: NO_STREAM });

        const page = await store.readAll({ fromPosition: headBefore, maxCount: 70 });

        expect(page).toHaveLength(70);
        expectIncreasing(page.map((event) => event.position));
        expect(idsOf(page.filter((event) => event.streamId === streamId))).toEqual(
          idsOf(events).slice(0, page.filter((event) => event.streamId === streamId).length),
        );
      });

      it('reads from the beginning of the log when given no position', async () => {
        const streamId = aStreamId();
        const { position } = await store.appendToStream(streamId, someEvents(1), {
          expectedRevision: NO_STREAM,
        });

        const [oldest] = await store.readAll({ maxCount: 1 });

        expect(oldest).toBeDefined();
        expect(store.comparePositions(oldest!.position, position)).toBeLessThanOrEqual(0);
      });

      it('reports as head the position of the newest event', async () => {
        const streamId = aStreamId();
        const before = await store.headPosition();

        const { position } = await store.appendToStream(streamId, someEvents(2), {
          expectedRevision: NO_STREAM,
        });

        const head = await store.headPosition();
        expect(head).toBeDefined();
        expect(store.comparePositions(head!, position)).toBeGreaterThanOrEqual(0);
        if (before !== undefined) expect(store.comparePositions(before, position)).toBeLessThan(0);
        expect(store.comparePositions(position, position)).toBe(0);
      });
    });

    describe('subscribing to all', () => {
      const collect = (streamIds: string[]) => {
        const delivered: RecordedEvent[] = [];
        return {
          delivered,
          onEvent(event: RecordedEvent) {
            if (streamIds.includes(event.streamId)) delivered.push(event);
          },
        };
      };

      const within = (assertion: () => void) =>
        vi.waitFor(assertion, { timeout: liveDeliveryTimeoutMs, interval: 5 });

      it('catches up from an exclusive position, then delivers new appends live', async () => {
        const streamId = aStreamId();
        const headBefore = await store.headPosition();
        const [stored1, stored2, live1, live2] = someEvents(4);
        await store.appendToStream(streamId, [stored1!, stored2!], { expectedRevision: NO_STREAM });
        const { delivered, onEvent } = collect([streamId]);
        const caughtUpAfter: number[] = [];

        const subscription = store.subscribeToAll({
          fromPosition: headBefore,
          onEvent,
          onCaughtUp: () => caughtUpAfter.push(delivered.length),
        });
        try {
          await within(() => expect(caughtUpAfter[0]).toBe(2));
          expect(idsOf(delivered)).toEqual(idsOf([stored1!, stored2!]));

          await store.appendToStream(streamId, [live1!], { expectedRevision: 1 });
          await store.appendToStream(streamId, [live2!], { expectedRevision: 2 });

          await within(() => expect(delivered).toHaveLength(4));
          expect(idsOf(delivered)).toEqual(idsOf([stored1!, stored2!, live1!, live2!]));
          expect(delivered.map((event) => event.revision)).toEqual([0, 1, 2, 3]);
        } finally {
          await subscription.stop();
        }
      });

      it('starts after the position it is given', async () => {
        const streamId = aStreamId();
        const events = someEvents(3);
        await store.appendToStream(streamId, events, { expectedRevision: NO_STREAM });
        const [first] = await store.readStream(streamId);
        const { delivered, onEvent } = collect([streamId]);
        let caughtUp = false;

        const subscription = store.subscribeToAll({
          fromPosition: first!.position,
          onEvent,
          onCaughtUp: () => (caughtUp = true),
        });
        try {
          await within(() => expect(caughtUp).toBe(true));
          expect(idsOf(delivered)).toEqual(idsOf(events.slice(1)));
        } finally {
          await subscription.stop();
        }
      });

      it('awaits each delivery before the next', async () => {
        const streamId = aStreamId();
        const headBefore = await store.headPosition();
        await store.appendToStream(streamId, someEvents(4), { expectedRevision: NO_STREAM });
        let running = 0;
        let mostAtOnce = 0;
        const revisions: number[] = [];

        const subscription = store.subscribeToAll({
          fromPosition: headBefore,
          async onEvent(event) {
            if (event.streamId !== streamId) return;
            running++;
            mostAtOnce = Math.max(mostAtOnce, running);
            await sleep(5);
            revisions.push(event.revision);
            running--;
          },
        });
        try {
          await within(() => expect(revisions).toEqual([0, 1, 2, 3]));
          expect(mostAtOnce).toBe(1);
        } finally {
          await subscription.stop();
        }
      });

      it('delivers nothing more once stopped, and stops only after the running delivery', async () => {
        const streamId = aStreamId();
        const headBefore = await store.headPosition();
        const { delivered, onEvent } = collect([streamId]);
        let deliveryRunning = false;
        // The first delivery is held open until the test lets it go, whatever the store's speed.
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));

        const subscription = store.subscribeToAll({
          fromPosition: headBefore,
          async onEvent(event) {
            deliveryRunning = true;
            await released;
            onEvent(event);
            deliveryRunning = false;
          },
        });
        await store.appendToStream(streamId, someEvents(1), { expectedRevision: NO_STREAM });
        await within(() => expect(deliveryRunning).toBe(true));

        const stopped = subscription.stop();
        await sleep(20);
        expect(deliveryRunning).toBe(true);
        release();
        await stopped;

        expect(deliveryRunning).toBe(false);
        const deliveredWhenStopped = delivered.length;
        await store.appendToStream(streamId, someEvents(2), { expectedRevision: ANY });
        await sleep(quietPeriodMs);
        expect(delivered).toHaveLength(deliveredWhenStopped);
      });

      it('stops at the first error thrown by onEvent and hands it to onError', async () => {
        const streamId = aStreamId();
        const headBefore = await store.headPosition();
        const failure = new Error('projection failed');
        const attempted: string[] = [];
        const errors: unknown[] = [];

        const subscription = store.subscribeToAll({
          fromPosition: headBefore,
          onEvent(event) {
            if (event.streamId !== streamId) return;
            attempted.push(event.id);
            throw failure;
          },
          onError: (error) => errors.push(error),
        });
        try {
          const events = someEvents(2);
          await store.appendToStream(streamId, events, { expectedRevision: NO_STREAM });
          await within(() => expect(errors).toHaveLength(1));
          expect(errors[0]).toBe(failure);
          await store.appendToStream(streamId, someEvents(1), { expectedRevision: 1 });
          await sleep(quietPeriodMs);
          expect(attempted).toEqual([events[0]!.id]);
          expect(errors).toHaveLength(1);
        } finally {
          await subscription.stop();
        }
      });
    });

    describe('concurrent appends', () => {
      it('lets exactly one of many appends expecting the same revision win', async () => {
        const streamId = aStreamId();
        await store.appendToStream(streamId, someEvents(1), { expectedRevision: NO_STREAM });
        const contenders = Array.from({ length: 20 }, () => someEvents(2));

        const outcomes = await Promise.allSettled(
          contenders.map((events) => store.appendToStream(streamId, events, { expectedRevision: 0 })),
        );

        const winners = outcomes.filter((outcome) => outcome.status === 'fulfilled');
        const losers = outcomes.flatMap((outcome) =>
          outcome.status === 'rejected' ? [outcome.reason as unknown] : [],
        );
        expect(winners).toHaveLength(1);
        expect(losers).toHaveLength(19);
        for (const loser of losers) {
          expect(loser).toBeInstanceOf(ConcurrencyConflictError);
          expect(loser).toMatchObject({ actualRevision: 2 });
        }
        const stored = await store.readStream(streamId);
        expect(stored.map((event) => event.revision)).toEqual([0, 1, 2]);
        const winner = contenders[outcomes.findIndex((outcome) => outcome.status === 'fulfilled')]!;
        expect(idsOf(stored.slice(1))).toEqual(idsOf(winner));
      });

      it('refuses a call to many streams among concurrent appends alone, as a whole where the store is atomic', async () => {
        const [existing, refusedFirst, single, pairA, pairB] = Array.from({ length: 5 }, aStreamId);
        await store.appendToStream(existing!, someEvents(1), { expectedRevision: NO_STREAM });
        const refusedEvents = someEvents(1);

        // Started together: a store that commits them in one group (SQLite) must keep them apart.
        const [refused, alone, pair] = await Promise.allSettled([
          store.appendToStreams([
            { streamId: refusedFirst!, events: refusedEvents, expectedRevision: NO_STREAM },
            { streamId: existing!, events: someEvents(1), expectedRevision: 5 },
          ]),
          store.appendToStream(single!, someEvents(2), { expectedRevision: NO_STREAM }),
          store.appendToStreams([
            { streamId: pairA!, events: someEvents(1), expectedRevision: NO_STREAM },
            { streamId: pairB!, events: someEvents(1), expectedRevision: NO_STREAM },
          ]),
        ]);

        expect(refused.status === 'rejected' && refused.reason).toBeInstanceOf(ConcurrencyConflictError);
        expect(alone.status).toBe('fulfilled');
        expect(pair.status).toBe('fulfilled');
        expect(await store.readStream(existing!)).toHaveLength(1);
        expect(await store.readStream(single!)).toHaveLength(2);
        expect(await store.readStream(pairA!)).toHaveLength(1);
        expect(await store.readStream(pairB!)).toHaveLength(1);
        if (appendsToStreamsAtomically) await expect(store.readStream(refusedFirst!)).rejects.toBeInstanceOf(StreamNotFoundError);
        else expect(idsOf(await store.readStream(refusedFirst!))).toEqual(idsOf(refusedEvents));
      });

      it('gives concurrent appends to different streams distinct positions', async () => {
        const streamIds = Array.from({ length: 20 }, aStreamId);

        const results = await Promise.all(
          streamIds.map((streamId) =>
            store.appendToStream(streamId, someEvents(1), { expectedRevision: NO_STREAM }),
          ),
        );

        const positions = results.map((result) => result.position);
        expect(new Set(positions).size).toBe(20);
        const sorted = [...positions].sort((a, b) => store.comparePositions(a, b));
        expectIncreasing(sorted);
      });
    });
  });
}

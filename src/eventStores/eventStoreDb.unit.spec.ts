/**
 * The EventStoreDB adapter's own logic, without a server: how it maps revisions, errors,
 * positions, metadata and events between the port and the client. The contract suite covers
 * the rest against a real server when EVENTSTORE_URL is set (test/eventStores.int.spec.ts).
 * The client's error classes are built here as the client builds them, since the adapter
 * recognises them by class.
 */
import { randomUUID } from 'node:crypto';
import {
  StreamNotFoundError as ClientStreamNotFoundError,
  UnavailableError,
  WrongExpectedVersionError,
  type AllStreamResolvedEvent,
} from '@eventstore/db-client';
import { describe, expect, it } from 'vitest';
import {
  ANY,
  ConcurrencyConflictError,
  NO_STREAM,
  STREAM_EXISTS,
  StreamNotFoundError,
  type EventMetadata,
  type NewEvent,
  type RecordedEvent,
} from '../core/eventStore';
import { deterministicId } from '../core/ids';
import { resultOfRetriedAppend } from './appendChecks';
import { isTransientEsdbError, openEventStoreDbEventStore, toEsdbEvent, toPortError } from './eventStoreDb';
import {
  compareEsdbPositions,
  decodeEsdbPosition,
  encodeEsdbPosition,
  fromEsdbCurrentRevision,
  fromEsdbExpectedRevision,
  fromEsdbMetadata,
  newestOfOurPositions,
  ourEventsAfter,
  positionAfterPage,
  positionBeforePage,
  revisionWhereBatchWouldStart,
  storedPlacesOf,
  toEsdbExpectedRevision,
  toEsdbMetadata,
  toPortRecordedEvent,
} from './eventStoreDbMapping';

const UINT64_MAX = 2n ** 64n - 1n;

const fullMetadata: EventMetadata = {
  actor: 'auth0|marta',
  recordedAt: '2024-05-02T08:30:00.000Z',
  occurredAt: '2024-05-01T17:45:12.345Z',
  correlationId: 'corr-1',
  causationId: 'cmd-1',
  schemaVersion: 3,
  idempotencyKey: 'web-form-4711',
  inputHash: 'sha256-abc',
  commandType: 'CaptureLead',
};

const minimalMetadata: EventMetadata = {
  actor: 'auth0|marta',
  recordedAt: '2024-05-02T08:30:00.000Z',
  occurredAt: '2024-05-02T08:30:00.000Z',
  correlationId: 'corr-2',
  causationId: 'cmd-2',
  schemaVersion: 1,
};

/** An event as the client hands it over from a `$all` read. */
const stored = ({
  id = randomUUID(),
  streamId = 'lead-1',
  revision = 0n,
  type = 'LeadCaptured',
  data = { leadId: '1' } as unknown,
  metadata = toEsdbMetadata(minimalMetadata) as unknown,
  position = { commit: 1000n, prepare: 1000n },
  isJson = true,
}: {
  id?: string;
  streamId?: string;
  revision?: bigint;
  type?: string;
  data?: unknown;
  metadata?: unknown;
  /** null: the event came without one. */
  position?: { commit: bigint; prepare: bigint } | null;
  isJson?: boolean;
} = {}): AllStreamResolvedEvent =>
  ({
    event: { id, streamId, revision, type, data, metadata, position: position ?? undefined, isJson, created: new Date(0) },
    commitPosition: position?.commit,
  }) as AllStreamResolvedEvent;

const at = (commit: bigint, prepare = commit) => ({ commit, prepare });

const recordedAt = (streamId: string, revision: number, id: string): RecordedEvent => ({
  id,
  streamId,
  revision,
  position: `${1000 + revision}/${1000 + revision}`,
  type: 'LeadCaptured',
  data: {},
  metadata: minimalMetadata,
});

const newEvent = (id: string = randomUUID()): NewEvent => ({ id, type: 'LeadCaptured', data: {}, metadata: minimalMetadata });

describe('expected revisions', () => {
  it('maps the port constants and revisions to the client and back', () => {
    expect(toEsdbExpectedRevision(NO_STREAM)).toBe('no_stream');
    expect(toEsdbExpectedRevision(STREAM_EXISTS)).toBe('stream_exists');
    expect(toEsdbExpectedRevision(ANY)).toBe('any');
    expect(toEsdbExpectedRevision(0)).toBe(0n);
    expect(toEsdbExpectedRevision(41)).toBe(41n);

    for (const expected of [NO_STREAM, STREAM_EXISTS, ANY, 0, 41] as const) {
      expect(fromEsdbExpectedRevision(toEsdbExpectedRevision(expected))).toBe(expected);
    }
  });

  it('refuses revisions the server would misread', () => {
    for (const invalid of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      expect(() => toEsdbExpectedRevision(invalid)).toThrow(RangeError);
    }
  });

  it('reads a current revision as a number, or NO_STREAM, and refuses one that does not fit a number', () => {
    expect(fromEsdbCurrentRevision(7n)).toBe(7);
    expect(fromEsdbCurrentRevision('no_stream')).toBe(NO_STREAM);
    expect(() => fromEsdbCurrentRevision(2n ** 53n)).toThrow(RangeError);
  });
});

describe('error mapping', () => {
  it("turns a wrong expected version into the port's conflict, with the stream's actual revision", () => {
    const error = new WrongExpectedVersionError(undefined, { streamName: 'lead-1', expected: 2n, current: 5n });

    const mapped = toPortError(error, 'lead-1', 2);

    expect(mapped).toBeInstanceOf(ConcurrencyConflictError);
    expect(mapped).toMatchObject({ streamId: 'lead-1', expectedRevision: 2, actualRevision: 5 });
  });

  it('reports NO_STREAM as the actual revision of a stream that does not exist', () => {
    const error = new WrongExpectedVersionError(undefined, {
      streamName: 'lead-1',
      expected: 'stream_exists',
      current: 'no_stream',
    });

    expect(toPortError(error, 'lead-1')).toMatchObject({
      expectedRevision: STREAM_EXISTS,
      actualRevision: NO_STREAM,
    });
  });

  it("turns the client's missing stream into the port's StreamNotFoundError", () => {
    const mapped = toPortError(new ClientStreamNotFoundError(undefined, 'lead-9'), 'lead-9');

    expect(mapped).toBeInstanceOf(StreamNotFoundError);
    expect(mapped).toMatchObject({ streamId: 'lead-9' });
  });

  it('passes any other error through unchanged', () => {
    const unavailable = new UnavailableError(undefined, 'connection refused');
    const plain = new Error('boom');

    expect(toPortError(unavailable, 'lead-1')).toBe(unavailable);
    expect(toPortError(plain, 'lead-1')).toBe(plain);
    expect(toPortError('a string', 'lead-1')).toBe('a string');
  });

  it('retries a subscription after unavailability, never after an error of the request itself', () => {
    expect(isTransientEsdbError(new UnavailableError())).toBe(true);
    expect(isTransientEsdbError(new ClientStreamNotFoundError(undefined, 'x'))).toBe(false);
    expect(isTransientEsdbError(new Error('onEvent failed'))).toBe(false);
  });
});

describe('positions', () => {
  it('encodes commit and prepare as text and decodes them back, up to the largest 64-bit values', () => {
    for (const position of [at(0n), at(1234n, 1200n), at(UINT64_MAX, UINT64_MAX - 1n)]) {
      expect(decodeEsdbPosition(encodeEsdbPosition(position))).toEqual(position);
    }
    expect(encodeEsdbPosition(at(1234n, 1200n))).toBe('1234/1200');
  });

  it('refuses text that is not a position, naming what it got', () => {
    const malformed = ['', '12', '1/2/3', '-1/0', 'a/b', '1/ 2', ' 1/2', '1.5/2', `${UINT64_MAX + 1n}/0`];
    for (const text of malformed) {
      expect(() => decodeEsdbPosition(text), text).toThrow(RangeError);
    }
    expect(() => decodeEsdbPosition('42')).toThrow(/Not an EventStoreDB position.*"42".*rebuild/);
  });

  it('orders as $all does: by commit position, then by prepare position, not as text', () => {
    const inLogOrder = ['9/9', '10/5', '10/10', '10/11', '100/1', `${UINT64_MAX}/0`];
    const shuffled = [...inLogOrder].reverse();

    expect(shuffled.sort(compareEsdbPositions)).toEqual(inLogOrder);
    expect(compareEsdbPositions('10/10', '10/10')).toBe(0);
    expect(compareEsdbPositions('9/100', '10/1')).toBeLessThan(0);
    expect(compareEsdbPositions('10/2', '10/1')).toBeGreaterThan(0);
  });
});

describe('metadata', () => {
  it('gives back every field as written, schemaVersion a number again', () => {
    expect(fromEsdbMetadata(toEsdbMetadata(fullMetadata), 'event')).toStrictEqual(fullMetadata);
    expect(fromEsdbMetadata(toEsdbMetadata(minimalMetadata), 'event')).toStrictEqual(minimalMetadata);
  });

  it('writes flat text only, with correlation and causation under the names EventStoreDB knows', () => {
    const written = toEsdbMetadata(fullMetadata);

    expect(Object.values(written).every((value) => typeof value === 'string')).toBe(true);
    expect(written).toMatchObject({ schemaVersion: '3', $correlationId: 'corr-1', $causationId: 'cmd-1' });
    expect(written).not.toHaveProperty('correlationId');
    expect(JSON.parse(JSON.stringify(written))).toEqual(written);
  });

  it('leaves optional fields out rather than writing them empty', () => {
    const written = toEsdbMetadata({ ...minimalMetadata, idempotencyKey: undefined });

    expect(Object.keys(written).sort()).toEqual(
      ['$causationId', '$correlationId', 'actor', 'occurredAt', 'recordedAt', 'schemaVersion'].sort(),
    );
  });

  it('refuses metadata that is not flat text', () => {
    const nested = { ...minimalMetadata, actor: { sub: 'marta' } } as unknown as EventMetadata;
    const fractional = { ...minimalMetadata, schemaVersion: 1.5 };

    expect(() => toEsdbMetadata(nested)).toThrow(/actor is object/);
    expect(() => toEsdbMetadata(fractional)).toThrow(/schemaVersion/);
  });

  it('refuses to read metadata this service did not write, saying which event', () => {
    const written = toEsdbMetadata(minimalMetadata);
    const { actor: _actor, ...withoutActor } = written;

    expect(() => fromEsdbMetadata(withoutActor, 'Event e1')).toThrow('Event e1 lacks metadata actor');
    expect(() => fromEsdbMetadata(undefined, 'Event e1')).toThrow(/Event e1 has no JSON object/);
    expect(() => fromEsdbMetadata(new Uint8Array([1, 2]), 'Event e1')).toThrow(/no JSON object/);
    expect(() => fromEsdbMetadata({ ...written, schemaVersion: 'v2' }, 'Event e1')).toThrow(/schemaVersion/);
    expect(() => fromEsdbMetadata({ ...written, actor: 42 }, 'Event e1')).toThrow(/actor that is not text/);
  });
});

describe('event conversion', () => {
  it('proposes a JSON event with the deterministic id it is given', () => {
    const id = deterministicId('command-7', 0);
    const event: NewEvent = { id, type: 'LeadCaptured', data: { leadId: 'l-1', tags: ['vip'] }, metadata: fullMetadata };

    const proposed = toEsdbEvent(event);

    expect(proposed).toEqual({
      id,
      contentType: 'application/json',
      type: 'LeadCaptured',
      data: { leadId: 'l-1', tags: ['vip'] },
      metadata: toEsdbMetadata(fullMetadata),
    });
  });

  it('refuses what EventStoreDB would store differently or hide', () => {
    expect(() => toEsdbEvent(newEvent('lead-1-event-0'))).toThrow(/lower-case UUID/);
    expect(() => toEsdbEvent(newEvent(randomUUID().toUpperCase()))).toThrow(/lower-case UUID/);
    expect(() => toEsdbEvent({ ...newEvent(), type: '$metadata' })).toThrow(/reserved/);
    expect(() => toEsdbEvent({ ...newEvent(), data: undefined })).toThrow(/not JSON/);
  });

  it("reads a recorded event as the port's, revision a number and position encoded", () => {
    const id = randomUUID();
    const resolved = stored({
      id,
      streamId: 'opportunity-5',
      revision: 12n,
      type: 'QuoteAdded',
      data: { amount: '100.00' },
      metadata: toEsdbMetadata(fullMetadata),
      position: at(5000n, 4990n),
    });

    expect(toPortRecordedEvent(resolved)).toStrictEqual({
      id,
      streamId: 'opportunity-5',
      revision: 12,
      position: '5000/4990',
      type: 'QuoteAdded',
      data: { amount: '100.00' },
      metadata: fullMetadata,
    });
  });

  it('refuses an event without a usable position, as servers before 22.6 give in stream reads', () => {
    expect(() => toPortRecordedEvent(stored({ position: null }))).toThrow(/22\.6/);
    expect(() => toPortRecordedEvent(stored({ position: at(UINT64_MAX) }))).toThrow(/22\.6/);
  });

  it('refuses binary events and links to deleted events', () => {
    expect(() => toPortRecordedEvent(stored({ isJson: false, data: new Uint8Array() }))).toThrow(/not JSON/);
    expect(() => toPortRecordedEvent({} as AllStreamResolvedEvent)).toThrow(/deleted/);
  });
});

describe('reading $all', () => {
  const system = (position: { commit: bigint; prepare: bigint }) =>
    stored({ streamId: '$stats-127.0.0.1:2113', type: '$statsCollected', metadata: undefined, position });

  it("keeps only this service's events after the position, which a page may start with", () => {
    const page = [stored({ position: at(10n) }), system(at(20n)), stored({ position: at(30n) }), stored({ position: at(40n) })];

    expect(ourEventsAfter(page, at(10n)).map((event) => event.position)).toEqual(['30/30', '40/40']);
    expect(ourEventsAfter(page, undefined).map((event) => event.position)).toEqual(['10/10', '30/30', '40/40']);
  });

  it('moves the next page past system events too, and stops a page that does not advance', () => {
    const page = [stored({ position: at(10n) }), system(at(20n))];

    expect(positionAfterPage(page, at(5n))).toEqual(at(20n));
    expect(positionAfterPage([stored({ position: at(10n) })], at(10n))).toBeUndefined();
    expect(positionAfterPage([], undefined)).toBeUndefined();
  });

  it('finds the head below system events, strictly before where the previous backward page ended', () => {
    const backwards = [system(at(50n)), stored({ position: at(40n) }), stored({ position: at(30n) })];

    expect(newestOfOurPositions(backwards, undefined)).toEqual(at(40n));
    expect(newestOfOurPositions(backwards, at(40n))).toEqual(at(30n));
    expect(newestOfOurPositions([system(at(50n))], undefined)).toBeUndefined();
    expect(positionBeforePage([system(at(50n)), system(at(45n))], undefined)).toEqual(at(45n));
    expect(positionBeforePage([system(at(45n))], at(45n))).toBeUndefined();
  });
});

describe('recognising a retried append from the stream tail', () => {
  it('finds where a batch would start from any of its ids among the newest events', () => {
    const batch = [newEvent(), newEvent(), newEvent()];
    const tail = [recordedAt('lead-1', 7, batch[2]!.id), recordedAt('lead-1', 6, batch[1]!.id)];

    expect(revisionWhereBatchWouldStart(batch, tail)).toBe(5);
    expect(revisionWhereBatchWouldStart(batch, [recordedAt('lead-1', 7, randomUUID())])).toBeUndefined();
    expect(revisionWhereBatchWouldStart(batch, [])).toBeUndefined();
  });

  it('returns the original result for a retry made with ANY while the batch is still the tail', () => {
    const batch = [newEvent(), newEvent()];
    const storedBatch = [recordedAt('lead-1', 3, batch[0]!.id), recordedAt('lead-1', 4, batch[1]!.id)];

    const result = resultOfRetriedAppend('lead-1', ANY, storedPlacesOf(batch, storedBatch), 4);

    expect(result).toEqual({ nextExpectedRevision: 4, position: storedBatch[1]!.position });
  });

  it('refuses ids that already sit at the end of the stream, with the actual revision', () => {
    const event = newEvent();
    const tail = [recordedAt('lead-1', 0, event.id)];

    const appendAgainAtEnd = () => resultOfRetriedAppend('lead-1', 0, storedPlacesOf([event], tail), 0);
    const withAnotherEvent = () =>
      resultOfRetriedAppend('lead-1', NO_STREAM, storedPlacesOf([event, newEvent()], tail), 0);

    expect(appendAgainAtEnd).toThrow(expect.objectContaining({ actualRevision: 0 }));
    expect(withAnotherEvent).toThrow(ConcurrencyConflictError);
  });
});

describe('the adapter without a server', () => {
  // Nothing listens on port 1: the client fails fast with "unavailable".
  const unreachable = 'esdb://127.0.0.1:1?tls=false';

  it('refuses a connection string that is not esdb:// or esdb+discover://', () => {
    expect(() => openEventStoreDbEventStore({ connectionString: 'postgres://localhost/crm' })).toThrow(
      /esdb:\/\/ or esdb\+discover:\/\//,
    );
  });

  it('checks a batch before sending anything, and reports an unreachable server as the client does', async () => {
    const store = openEventStoreDbEventStore({ connectionString: unreachable });
    try {
      await expect(
        store.appendToStream('lead-1', [newEvent('not-a-uuid')], { expectedRevision: NO_STREAM }),
      ).rejects.toThrow(/lower-case UUID/);
      await expect(store.appendToStream('lead-1', [], { expectedRevision: NO_STREAM })).rejects.toThrow(
        /Nothing to append/,
      );
      await expect(store.readStream('lead-1')).rejects.toBeInstanceOf(UnavailableError);
      await expect(store.readAll({ fromPosition: '17' })).rejects.toThrow(/Not an EventStoreDB position/);
    } finally {
      await store.close();
    }
  });

  it('stops a subscription promptly while it waits to reconnect, without reporting an error', async () => {
    const store = openEventStoreDbEventStore({ connectionString: unreachable });
    const errors: unknown[] = [];
    const subscription = store.subscribeToAll({ onEvent: () => undefined, onError: (error) => errors.push(error) });
    await new Promise((resolve) => setTimeout(resolve, 300));

    const startedStopping = Date.now();
    await subscription.stop();

    expect(Date.now() - startedStopping).toBeLessThan(2000);
    expect(errors).toEqual([]);
    await store.close();
  });

  it('hands a malformed resume position to onError', async () => {
    const store = openEventStoreDbEventStore({ connectionString: unreachable });
    const errors: unknown[] = [];
    const subscription = store.subscribeToAll({
      fromPosition: 'lead-1@3',
      onEvent: () => undefined,
      onError: (error) => errors.push(error),
    });
    try {
      await expect.poll(() => errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(RangeError);
    } finally {
      await subscription.stop();
      await store.close();
    }
  });
});

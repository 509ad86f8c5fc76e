/**
 * The pure half of the EventStoreDB adapter (`eventStoreDb.ts`): how positions, revisions,
 * metadata and events map between the port and `@eventstore/db-client`, with no connection and
 * nothing to await, so the unit tests can run it without a server. It imports nothing from the
 * client, not even types: the few shapes of the client it reads are declared below, and the
 * client's own types fit them, so the adapter stays the one module to change with the client.
 * What needs the client's values stays there: building the event (`jsonEvent`) and recognising
 * the client's errors, which it does by class.
 *
 * A `$all` position is a pair of 64-bit numbers (commit, prepare); the port's opaque text is
 * `<commit>/<prepare>` and positions compare by commit, then prepare, as `$all` is ordered.
 */
import {
  ANY,
  NO_STREAM,
  STREAM_EXISTS,
  type EventMetadata,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type RecordedEvent,
} from '../core/eventStore';
import { toJsonText, type StoredPlace } from './appendChecks';

// ---------------------------------------------------------------------------------------------
// The client's shapes this module reads, as `@eventstore/db-client` 6 declares them.

/** The client's `Position`: where an event sits in `$all`. */
export type EsdbPosition = { commit: bigint; prepare: bigint };

/** The client's `AppendExpectedRevision`, its `STREAM_EXISTS`, `NO_STREAM` and `ANY` being these texts. */
export type EsdbExpectedRevision = 'stream_exists' | 'no_stream' | 'any' | bigint;

/** The client's `CurrentRevision`: the revision a wrong-expected-version error found. */
export type EsdbCurrentRevision = 'no_stream' | bigint;

/** What of the client's recorded event is read here (its `RecordedEvent` and `AllStreamRecordedEvent` fit). */
export interface EsdbRecordedEvent {
  id: string;
  streamId: string;
  revision: bigint;
  type: string;
  isJson: boolean;
  data: unknown;
  metadata: unknown;
  position?: EsdbPosition;
}

/** What of a read's or a subscription's event is read here (the client's `ResolvedEvent` and `AllStreamResolvedEvent` fit). */
export interface EsdbResolvedEvent {
  event?: EsdbRecordedEvent;
  link?: { type: string; position?: EsdbPosition };
}

/** The fields of the client's `jsonEvent` for an event of the port, checked. */
export interface EsdbEventFields {
  id: string;
  type: string;
  data: unknown;
  metadata: Record<string, string>;
}

const UINT64_MAX = 2n ** 64n - 1n;

// ---------------------------------------------------------------------------------------------
// Revisions.

export const toSafeNumber = (value: bigint, what: string): number => {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`The ${what} ${value} does not fit a JavaScript number`);
  }
  return Number(value);
};

export const toEsdbExpectedRevision = (expected: ExpectedRevision): EsdbExpectedRevision => {
  switch (expected) {
    case NO_STREAM:
      return 'no_stream';
    case STREAM_EXISTS:
      return 'stream_exists';
    case ANY:
      return 'any';
    default:
      if (!Number.isSafeInteger(expected) || expected < 0) {
        throw new RangeError(
          `An expected revision is NO_STREAM, STREAM_EXISTS, ANY or a revision (an integer from 0), got ${String(expected)}`,
        );
      }
      return BigInt(expected);
  }
};

export const fromEsdbExpectedRevision = (expected: EsdbExpectedRevision): ExpectedRevision => {
  if (typeof expected === 'bigint') return toSafeNumber(expected, 'expected revision');
  return expected === 'no_stream' ? NO_STREAM : expected === 'stream_exists' ? STREAM_EXISTS : ANY;
};

export const fromEsdbCurrentRevision = (current: EsdbCurrentRevision): number | typeof NO_STREAM =>
  current === 'no_stream' ? NO_STREAM : toSafeNumber(current, 'stream revision');

// ---------------------------------------------------------------------------------------------
// Positions.

const POSITION_TEXT = /^(\d{1,20})\/(\d{1,20})$/;

export const encodeEsdbPosition = ({ commit, prepare }: EsdbPosition): GlobalPosition => `${commit}/${prepare}`;

export const decodeEsdbPosition = (position: GlobalPosition): EsdbPosition => {
  const match = POSITION_TEXT.exec(position);
  if (match) {
    const commit = BigInt(match[1]!);
    const prepare = BigInt(match[2]!);
    if (commit <= UINT64_MAX && prepare <= UINT64_MAX) return { commit, prepare };
  }
  throw new RangeError(
    `Not an EventStoreDB position (expected "<commit>/<prepare>"): ${JSON.stringify(position)}. ` +
      'A checkpoint written against another store cannot be used here: rebuild the read models.',
  );
};

const comparePositionPairs = (a: EsdbPosition, b: EsdbPosition): number => {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  return a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1;
};

/** In the order of `$all`: by commit position, then by prepare position. */
export const compareEsdbPositions = (a: GlobalPosition, b: GlobalPosition): number =>
  comparePositionPairs(decodeEsdbPosition(a), decodeEsdbPosition(b));

// ---------------------------------------------------------------------------------------------
// Metadata and events.

/** The port's keys that EventStoreDB knows under its own names (its `$by_correlation_id` projection reads them). */
const ESDB_METADATA_KEYS: Readonly<Record<string, string>> = {
  correlationId: '$correlationId',
  causationId: '$causationId',
};
const PORT_METADATA_KEYS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(ESDB_METADATA_KEYS).map(([port, esdb]) => [esdb, port]),
);
const REQUIRED_METADATA: readonly (keyof EventMetadata)[] = [
  'actor',
  'recordedAt',
  'occurredAt',
  'correlationId',
  'causationId',
  'schemaVersion',
];

/** Flat string→string, which the successor client requires; schemaVersion is written as text. */
export const toEsdbMetadata = (metadata: EventMetadata): Record<string, string> => {
  const flat: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata) as [string, unknown][]) {
    if (value === undefined) continue;
    if (key === 'schemaVersion') {
      if (!Number.isSafeInteger(value) || (value as number) < 0) {
        throw new TypeError(`Event metadata schemaVersion must be an integer from 0, got ${String(value)}`);
      }
      flat[key] = String(value);
    } else if (typeof value === 'string') {
      flat[ESDB_METADATA_KEYS[key] ?? key] = value;
    } else {
      throw new TypeError(`Event metadata must be flat text (schemaVersion aside); ${key} is ${typeof value}`);
    }
  }
  return flat;
};

export const fromEsdbMetadata = (raw: unknown, where: string): EventMetadata => {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) {
    throw new TypeError(`${where} has no JSON object as metadata: not an event this service wrote`);
  }
  const metadata: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const portKey = PORT_METADATA_KEYS[key] ?? key;
    if (portKey === 'schemaVersion') metadata[portKey] = schemaVersionOf(value, where);
    else if (typeof value === 'string') metadata[portKey] = value;
    else throw new TypeError(`${where} has metadata ${key} that is not text`);
  }
  const missing = REQUIRED_METADATA.filter((key) => metadata[key] === undefined);
  if (missing.length > 0) throw new TypeError(`${where} lacks metadata ${missing.join(', ')}`);
  return metadata as unknown as EventMetadata;
};

const schemaVersionOf = (value: unknown, where: string): number => {
  const version = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : value;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    throw new TypeError(`${where} has a schemaVersion that is not an integer: ${JSON.stringify(value)}`);
  }
  return version;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What the adapter hands the client's `jsonEvent` for an event of the port, once the event is checked. */
export const toEsdbEventFields = (event: NewEvent): EsdbEventFields => {
  // EventStoreDB stores ids as UUIDs and gives them back in lower case.
  if (!UUID.test(event.id)) throw new RangeError(`An EventStoreDB event id is a lower-case UUID, got ${event.id}`);
  // Every read skips `$` types as the server's own: such an event would vanish from the log.
  if (event.type.startsWith('$')) throw new RangeError(`Event types starting with $ are reserved: ${event.type}`);
  toJsonText(event.data, 'data');
  return {
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: toEsdbMetadata(event.metadata),
  };
};

export const isSystemEvent = (resolved: EsdbResolvedEvent): boolean => {
  const type = resolved.event?.type ?? resolved.link?.type;
  return type === undefined || type.startsWith('$');
};

const positionOf = (resolved: EsdbResolvedEvent): EsdbPosition | undefined => {
  const position = resolved.event?.position ?? resolved.link?.position;
  // Servers before 22.6 fill stream reads with the largest 64-bit value instead of a position.
  return position === undefined || position.commit === UINT64_MAX || position.prepare === UINT64_MAX
    ? undefined
    : position;
};

export const toPortRecordedEvent = (resolved: EsdbResolvedEvent): RecordedEvent => {
  const recorded = resolved.event;
  if (recorded === undefined) throw new TypeError('A link to a deleted event has no event to give');
  const where = `Event ${recorded.id} in stream ${recorded.streamId}`;
  if (!recorded.isJson) throw new TypeError(`${where} is not JSON: not an event this service wrote`);
  const position = positionOf(resolved);
  if (position === undefined) {
    throw new Error(`${where} came without its $all position: EventStoreDB 22.6 or newer is required`);
  }
  return {
    id: recorded.id,
    streamId: recorded.streamId,
    revision: toSafeNumber(recorded.revision, 'stream revision'),
    position: encodeEsdbPosition(position),
    type: recorded.type,
    data: recorded.data,
    metadata: fromEsdbMetadata(recorded.metadata, where),
  };
};

/** Our events of a forward page of `$all`, without those at or before `after`. */
export const ourEventsAfter = (
  page: readonly EsdbResolvedEvent[],
  after: EsdbPosition | undefined,
): RecordedEvent[] =>
  page
    .filter((resolved) => !isSystemEvent(resolved))
    .filter((resolved) => {
      const position = positionOf(resolved);
      return after === undefined || position === undefined || comparePositionPairs(position, after) > 0;
    })
    .map(toPortRecordedEvent);

/** Where the next forward page starts, or undefined when this full page did not move past `after`. */
export const positionAfterPage = (
  page: readonly EsdbResolvedEvent[],
  after: EsdbPosition | undefined,
): EsdbPosition | undefined => {
  const last = page.length === 0 ? undefined : positionOf(page[page.length - 1]!);
  return last !== undefined && (after === undefined || comparePositionPairs(last, after) > 0) ? last : undefined;
};

/** The newest of our events in a backward page of `$all`, ignoring anything at or after `before`. */
export const newestOfOurPositions = (
  page: readonly EsdbResolvedEvent[],
  before: EsdbPosition | undefined,
): EsdbPosition | undefined =>
  page
    .filter((resolved) => !isSystemEvent(resolved))
    .map(positionOf)
    .find((position) => position !== undefined && (before === undefined || comparePositionPairs(position, before) < 0));

/** Where the next backward page starts, or undefined when this full page did not move before `before`. */
export const positionBeforePage = (
  page: readonly EsdbResolvedEvent[],
  before: EsdbPosition | undefined,
): EsdbPosition | undefined => {
  const oldest = page.length === 0 ? undefined : positionOf(page[page.length - 1]!);
  return oldest !== undefined && (before === undefined || comparePositionPairs(oldest, before) < 0)
    ? oldest
    : undefined;
};

/**
 * If some ids of the batch are among the stream's newest events, the revision at which the
 * batch would start were it a retry (possibly below 0 when it cannot be one); else undefined.
 */
export const revisionWhereBatchWouldStart = (
  events: readonly NewEvent[],
  newest: readonly RecordedEvent[],
): number | undefined => {
  for (const stored of newest) {
    const index = events.findIndex((event) => event.id === stored.id);
    if (index >= 0) return stored.revision - index;
  }
  return undefined;
};

export const storedPlacesOf = (
  events: readonly NewEvent[],
  stored: readonly RecordedEvent[],
): (StoredPlace | undefined)[] =>
  events.map((event) => {
    const found = stored.find((candidate) => candidate.id === event.id);
    return found && { streamId: found.streamId, revision: found.revision, position: found.position };
  });

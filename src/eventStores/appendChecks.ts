/**
 * The rules of `appendToStream` that do not depend on storage, so every adapter decides retries
 * and conflicts alike.
 */
import {
  ANY,
  ConcurrencyConflictError,
  NO_STREAM,
  STREAM_EXISTS,
  type AppendResult,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
} from '../core/eventStore';

export interface StoredPlace {
  streamId: string;
  revision: number;
  position: GlobalPosition;
}

export const assertAppendableBatch = (streamId: string, events: readonly NewEvent[]): void => {
  // An empty append has no position to return: AppendResult would have to lie.
  if (events.length === 0) throw new RangeError(`Nothing to append to stream ${streamId}`);
  const ids = new Set(events.map((event) => event.id));
  if (ids.size !== events.length) {
    throw new RangeError(`An append to stream ${streamId} repeats an event id`);
  }
};

/** JSON text of an event's data or metadata; throws rather than store something unreadable. */
export const toJsonText = (value: unknown, what: string): string => {
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) throw new TypeError(`The ${what} of an event is not JSON`);
  return text;
};

/**
 * Given where each event of the batch is already stored (undefined when it is not), returns the
 * original result when the batch is a retry of an append that succeeded, undefined when none of
 * its events is stored, and throws a conflict when the ids are reused anywhere else: accepting
 * that silently would hide a command handler that derives the same id for different facts.
 */
export const resultOfRetriedAppend = (
  streamId: string,
  expectedRevision: ExpectedRevision,
  storedPlaces: readonly (StoredPlace | undefined)[],
  actualRevision: number | typeof NO_STREAM,
): AppendResult | undefined => {
  if (storedPlaces.every((place) => place === undefined)) return undefined;
  const first = storedPlaces[0];
  const isSameBatchAtSamePlace =
    first !== undefined &&
    first.streamId === streamId &&
    storedPlaces.every(
      (place, index) =>
        place?.streamId === streamId && place.revision === first.revision + index,
    ) &&
    couldHaveBeenAppendedAt(first.revision, expectedRevision);
  if (!isSameBatchAtSamePlace) {
    throw new ConcurrencyConflictError(streamId, expectedRevision, actualRevision);
  }
  const last = storedPlaces[storedPlaces.length - 1]!;
  return { nextExpectedRevision: last.revision, position: last.position };
};

const couldHaveBeenAppendedAt = (firstRevision: number, expected: ExpectedRevision): boolean => {
  switch (expected) {
    case ANY:
      return true;
    case NO_STREAM:
      return firstRevision === 0;
    case STREAM_EXISTS:
      return firstRevision > 0;
    default:
      return firstRevision === expected + 1;
  }
};

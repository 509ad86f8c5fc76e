/**
 * The event store on EventStoreDB, through `@eventstore/db-client` 6. This is the only module
 * that imports the client, types included, so moving to its successor `@kurrent/kurrentdb-client`
 * changes this file alone: there the class is `KurrentDBClient`, the append option
 * `expectedRevision` is `streamState`, `WrongExpectedVersionError` carries `actualState`, reads
 * are async iterators (as they are used here already), and metadata must be flat string→string
 * (as it is written here already). What is pure of the mapping between the port and the client
 * (positions, revisions, metadata, events) lives in `eventStoreDbMapping.ts`, which reads the
 * client's objects through shapes of its own; this module keeps the calls to the server and what
 * needs the client's values: building events with `jsonEvent`, and recognising its errors.
 *
 * Where EventStoreDB differs from the port, and what this adapter does about it:
 * - A `$all` position is a pair of 64-bit numbers (commit, prepare), which the mapping module
 *   encodes as the port's opaque text and orders as `$all` is ordered.
 * - `$all` also holds the server's own events (types starting with `$`): reads, the head and
 *   subscriptions skip them, the subscription with the server-side `excludeSystemEvents` filter.
 * - Reads from a position may include the event at it; the port's are exclusive, so the
 *   adapter drops anything at or before the position it was given.
 * - The position an append answers with is the transaction's commit position, not that of the
 *   last event (the server says as much), and a deduplicated retry answers with yet another.
 *   So the adapter reads the last appended event back and returns its recorded position: one
 *   indexed read per append buys a position that equals what `readAll` later shows.
 * - Idempotency: EventStoreDB deduplicates a retried append by itself when the expected revision
 *   is explicit and the stream has moved past it. It does not refuse ids reused at another place.
 *   Before each append the adapter reads the stream's newest events (as many as the batch) and
 *   settles the cases visible there: a retry made with ANY or STREAM_EXISTS whose batch is still
 *   the stream's tail, and a batch whose ids already sit at the end of the stream. Not covered:
 *   ids reused in another stream, or deeper in the same stream than the batch's length (there is
 *   no index by event id to ask); and two retries racing with ANY, which the server only
 *   deduplicates on a best-effort basis. The command handler uses explicit revisions and derives
 *   ids from the command, which the server does deduplicate.
 * - Stream reads carry `$all` positions only from server 22.6 on; older servers are refused with
 *   a clear error rather than given positions that would not compare.
 */
import { setImmediate as yieldToOtherWork } from 'node:timers/promises';
import {
  BACKWARDS,
  END,
  ErrorType,
  EventStoreDBClient,
  FORWARDS,
  START,
  excludeSystemEvents,
  isCommandError,
  jsonEvent,
  type AllStreamSubscription,
  type AppendResult as ClientAppendResult,
  type EventData,
  type JSONType,
  type Position,
} from '@eventstore/db-client';
import {
  ConcurrencyConflictError,
  NO_STREAM,
  StreamNotFoundError,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type RecordedEvent,
  type SubscribeOptions,
  type Subscription,
} from '../core/eventStore';
import { assertAppendableBatch, resultOfRetriedAppend } from './appendChecks';
import {
  compareEsdbPositions,
  decodeEsdbPosition,
  encodeEsdbPosition,
  fromEsdbCurrentRevision,
  fromEsdbExpectedRevision,
  newestOfOurPositions,
  ourEventsAfter,
  positionAfterPage,
  positionBeforePage,
  revisionWhereBatchWouldStart,
  storedPlacesOf,
  toEsdbEventFields,
  toEsdbExpectedRevision,
  toPortRecordedEvent,
  toSafeNumber,
} from './eventStoreDbMapping';

/** A client passed in stays the caller's to dispose; one built from a connection string is closed with the store. */
export type EventStoreDbOptions = { connectionString: string } | { client: EventStoreDBClient };

const READ_PAGE_SIZE = 500;
/** The newest events are mostly ours; a few of the server's own may sit on top. */
const HEAD_PAGE_SIZE = 16;
/** Enough to ride out a leader election in a three-node cluster (a few seconds). */
const MAX_CONSECUTIVE_RECONNECTS = 8;
const MAX_RECONNECT_DELAY_MS = 5000;

export const openEventStoreDbEventStore = (options: EventStoreDbOptions): EventStore => {
  const ownsClient = 'connectionString' in options;
  const client = ownsClient ? EventStoreDBClient.connectionString(options.connectionString) : options.client;
  const subscriptions = new Set<Subscription>();

  const readStreamEvents = async (
    streamId: string,
    options: { fromRevision: bigint | typeof END; maxCount?: number; direction?: typeof FORWARDS | typeof BACKWARDS },
  ): Promise<RecordedEvent[]> => {
    try {
      return (await collect(client.readStream(streamId, options))).map(toPortRecordedEvent);
    } catch (error) {
      throw toPortError(error, streamId);
    }
  };

  const newestEventsOf = async (streamId: string, count: number): Promise<RecordedEvent[]> => {
    try {
      return await readStreamEvents(streamId, { fromRevision: END, direction: BACKWARDS, maxCount: count });
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
  };

  /** The original result when the batch is a retry visible at the stream's end; throws when its ids sit there otherwise. */
  const retriedAppendAtTail = async (
    streamId: string,
    events: readonly NewEvent[],
    expectedRevision: ExpectedRevision,
  ) => {
    const tail = await newestEventsOf(streamId, events.length);
    const start = revisionWhereBatchWouldStart(events, tail);
    if (start === undefined) return undefined;
    const window =
      start >= 0 ? await readStreamEvents(streamId, { fromRevision: BigInt(start), maxCount: events.length }) : [];
    const actualRevision = tail.length === 0 ? NO_STREAM : tail[0]!.revision;
    return resultOfRetriedAppend(streamId, expectedRevision, storedPlacesOf(events, [...window, ...tail]), actualRevision);
  };

  const readAllPage = (from: Position | undefined, maxCount: number) =>
    collect(client.readAll({ fromPosition: from ?? START, maxCount, direction: FORWARDS }));

  const readOurEvents = async (after: Position | undefined, wanted: number): Promise<RecordedEvent[]> => {
    const events: RecordedEvent[] = [];
    let cursor = after;
    while (events.length < wanted) {
      // One more than still wanted: the page may start with the event at the cursor itself.
      const pageSize = Math.min(READ_PAGE_SIZE, wanted - events.length + 1);
      const page = await readAllPage(cursor, pageSize);
      events.push(...ourEventsAfter(page, cursor).slice(0, wanted - events.length));
      const next = page.length < pageSize ? undefined : positionAfterPage(page, cursor);
      if (next === undefined) break;
      cursor = next;
    }
    return events;
  };

  const follow = (options: SubscribeOptions): Subscription => {
    let stopped = false;
    let live: AllStreamSubscription | undefined;
    let wakeUp: (() => void) | undefined;

    const run = async () => {
      let resumeAfter = options.fromPosition === undefined ? undefined : decodeEsdbPosition(options.fromPosition);
      let lastDelivered = options.fromPosition;
      let caughtUp = false;
      let failures = 0;

      const deliver = async (event: RecordedEvent) => {
        try {
          await options.onEvent(event);
        } catch (error) {
          throw new DeliveryFailure(error);
        }
        resumeAfter = decodeEsdbPosition(event.position);
        lastDelivered = event.position;
        failures = 0;
      };

      // Paging through readAll rather than waiting for the subscription's own `caughtUp`: that
      // message needs server 23.10, and the client emits it as soon as it parses it, ahead of
      // events still buffered for us, so it would announce "caught up" too early.
      const catchUp = async () => {
        for (;;) {
          const pageStart = resumeAfter;
          const page = await readAllPage(pageStart, READ_PAGE_SIZE);
          for (const event of ourEventsAfter(page, pageStart)) {
            if (stopped) return;
            await deliver(event);
          }
          const next = page.length < READ_PAGE_SIZE ? undefined : positionAfterPage(page, pageStart);
          if (next === undefined || stopped) return;
          resumeAfter = next;
          // Without this a long catch-up would hold off every request the process serves.
          await yieldToOtherWork();
        }
      };

      // `for await` pulls the next event only once the previous delivery has finished; the
      // stream stops reading from the server while its small buffer is full.
      const followLive = async () => {
        const subscription = client.subscribeToAll({
          fromPosition: resumeAfter ?? START,
          filter: excludeSystemEvents(),
        });
        live = subscription;
        // `for await` sees errors through its own listener; this one keeps an error emitted
        // after the loop has let go of the stream from crashing the process.
        subscription.on('error', () => undefined);
        try {
          for await (const resolved of subscription) {
            if (stopped) return;
            for (const event of ourEventsAfter([resolved], resumeAfter)) await deliver(event);
          }
        } finally {
          live = undefined;
          await subscription.unsubscribe().catch(() => undefined);
        }
      };

      while (!stopped) {
        try {
          if (!caughtUp) {
            await catchUp();
            if (stopped) return;
            caughtUp = true;
            options.onCaughtUp?.(lastDelivered);
          }
          await followLive();
          if (!stopped) throw new SubscriptionEndedError();
        } catch (error) {
          if (stopped) return;
          if (error instanceof DeliveryFailure || !isTransientEsdbError(error)) throw error;
          failures += 1;
          if (failures > MAX_CONSECUTIVE_RECONNECTS) throw error;
          await sleepUnlessStopped(Math.min(MAX_RECONNECT_DELAY_MS, 125 * 2 ** failures));
        }
      }
    };

    const sleepUnlessStopped = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        wakeUp = done;
        function done() {
          clearTimeout(timer);
          wakeUp = undefined;
          resolve();
        }
      });

    const finished = run().catch((error: unknown) => {
      stopped = true;
      const reported = error instanceof DeliveryFailure ? error.cause : error;
      if (options.onError) options.onError(reported);
      // Without a handler, fail loudly: a projection that silently stops is worse than a crash.
      else void Promise.reject(reported);
    });

    return {
      async stop() {
        stopped = true;
        wakeUp?.();
        // Ends a pending `for await` at once; its `finally` cancels the call on the server.
        live?.destroy();
        await finished;
      },
    };
  };

  const appendOne = async (
    streamId: string,
    events: readonly NewEvent[],
    { expectedRevision }: { expectedRevision: ExpectedRevision },
  ): Promise<AppendResult> => {
    assertAppendableBatch(streamId, events);
    const proposed = events.map(toEsdbEvent);
    const retried = await retriedAppendAtTail(streamId, events, expectedRevision);
    if (retried) return retried;
    let result: ClientAppendResult;
    try {
      result = await client.appendToStream(streamId, proposed, {
        expectedRevision: toEsdbExpectedRevision(expectedRevision),
      });
    } catch (error) {
      throw toPortError(error, streamId, expectedRevision);
    }
    if (!result.success) {
      // Only a client built with throwOnAppendFailure=false answers so, and its batch append
      // then misreports the stream's revision: ask the stream instead.
      const [newest] = await newestEventsOf(streamId, 1);
      throw new ConcurrencyConflictError(streamId, expectedRevision, newest?.revision ?? NO_STREAM);
    }
    const nextExpectedRevision = toSafeNumber(result.nextExpectedRevision, 'stream revision');
    const [last] = await readStreamEvents(streamId, { fromRevision: BigInt(nextExpectedRevision), maxCount: 1 });
    return { nextExpectedRevision, position: last!.position };
  };

  return {
    name: 'eventstoredb',
    // Its entries are appended one after the other: those before a refused one stay written.
    appendsToStreamsAtomically: false,

    appendToStream: appendOne,

    // EventStoreDB writes one stream per transaction: the entries go one after the other, and a
    // refused one leaves those before it written (the port says so).
    async appendToStreams(appends) {
      const results: AppendResult[] = [];
      for (const { streamId, events, expectedRevision } of appends) {
        results.push(await appendOne(streamId, events, { expectedRevision }));
      }
      return results;
    },

    async readStream(streamId, { fromRevision = 0, maxCount } = {}) {
      // Rather than send the server a count of 0: one event is enough to tell a missing stream.
      if (maxCount === 0) {
        await readStreamEvents(streamId, { fromRevision: 0n, maxCount: 1 });
        return [];
      }
      return readStreamEvents(streamId, {
        fromRevision: BigInt(fromRevision),
        ...(maxCount === undefined || maxCount === Infinity ? {} : { maxCount }),
      });
    },

    async readAll({ fromPosition, maxCount } = {}) {
      const after = fromPosition === undefined ? undefined : decodeEsdbPosition(fromPosition);
      return readOurEvents(after, maxCount ?? Infinity);
    },

    subscribeToAll(options) {
      const subscription = follow(options);
      subscriptions.add(subscription);
      return {
        async stop() {
          subscriptions.delete(subscription);
          await subscription.stop();
        },
      };
    },

    async headPosition() {
      let before: Position | undefined;
      for (;;) {
        const page = await collect(
          client.readAll({ fromPosition: before ?? END, maxCount: HEAD_PAGE_SIZE, direction: BACKWARDS }),
        );
        const newest = newestOfOurPositions(page, before);
        if (newest !== undefined) return encodeEsdbPosition(newest);
        const next = page.length < HEAD_PAGE_SIZE ? undefined : positionBeforePage(page, before);
        if (next === undefined) return undefined;
        before = next;
      }
    },

    comparePositions: compareEsdbPositions,

    async close() {
      await Promise.all([...subscriptions].map((subscription) => subscription.stop()));
      subscriptions.clear();
      if (ownsClient) await client.dispose();
    },
  };
};

/** An error thrown by the subscriber, kept apart from the store's own so it is never retried. */
class DeliveryFailure extends Error {
  constructor(override readonly cause: unknown) {
    super('onEvent failed', { cause });
  }
}

class SubscriptionEndedError extends Error {
  override readonly name = 'SubscriptionEndedError';
  constructor() {
    super('The server ended the $all subscription');
  }
}

const collect = async <T>(read: AsyncIterable<T>): Promise<T[]> => {
  const items: T[] = [];
  for await (const item of read) items.push(item);
  return items;
};

// ---------------------------------------------------------------------------------------------
// What needs the client's values, exported for the unit tests; the pure rest is in eventStoreDbMapping.ts.

/**
 * The port's error for a client error: a wrong expected version is a conflict, a missing stream
 * the port's StreamNotFoundError; anything else is passed through unchanged.
 */
export const toPortError = (error: unknown, streamId: string, expectedRevision?: ExpectedRevision): unknown => {
  if (!(error instanceof Error) || !isCommandError(error)) return error;
  if (error.type === ErrorType.WRONG_EXPECTED_VERSION) {
    return new ConcurrencyConflictError(
      streamId,
      expectedRevision ?? fromEsdbExpectedRevision(error.expectedVersion),
      fromEsdbCurrentRevision(error.actualVersion),
    );
  }
  if (error.type === ErrorType.STREAM_NOT_FOUND) return new StreamNotFoundError(streamId);
  return error;
};

/** Errors after which a subscription resumes from its last event: the cluster is changing leader or unreachable for a moment. */
export const isTransientEsdbError = (error: unknown): boolean => {
  if (error instanceof SubscriptionEndedError) return true;
  if (!(error instanceof Error) || !isCommandError(error)) return false;
  return [
    ErrorType.UNAVAILABLE,
    ErrorType.NOT_LEADER,
    ErrorType.DEADLINE_EXCEEDED,
    ErrorType.TIMEOUT,
    ErrorType.CANCELLED,
  ].includes(error.type);
};

export const toEsdbEvent = (event: NewEvent): EventData => {
  const { id, type, data, metadata } = toEsdbEventFields(event);
  return jsonEvent({ id, type, data: data as JSONType, metadata });
};

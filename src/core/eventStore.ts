/**
 * The event store port. Every storage adapter (in-memory, SQLite, PostgreSQL, EventStoreDB)
 * implements this one interface and must pass `test/eventStoreContract.ts`.
 *
 * Semantics follow EventStoreDB so that its adapter is a thin mapping:
 * - a stream revision is the 0-based index of an event in its stream;
 * - the expected revision of an append is `NO_STREAM`, `STREAM_EXISTS`, `ANY` or the exact
 *   revision of the stream's last event;
 * - a global position orders every event of the store; a subscription or `readAll` started
 *   from a position is exclusive of it.
 */

export const NO_STREAM = 'no_stream' as const;
export const STREAM_EXISTS = 'stream_exists' as const;
export const ANY = 'any' as const;

export type ExpectedRevision = typeof NO_STREAM | typeof STREAM_EXISTS | typeof ANY | number;

/** What every event carries besides its data. DEVELOPERS.md lists these fields. */
export interface EventMetadata {
  /** The verified `sub` of the token that issued the command. */
  actor: string;
  /** When the store learnt the fact (ISO-8601). Set by the command handler from its clock. */
  recordedAt: string;
  /** When the fact happened in the business (ISO-8601); equals recordedAt unless back-dated. */
  occurredAt: string;
  correlationId: string;
  causationId: string;
  schemaVersion: number;
  /** Present when the command carried a client idempotency key. */
  idempotencyKey?: string;
  /** A digest of the command input, to tell a replay from a reuse of the same key. */
  inputHash?: string;
  /** The command that produced this event. */
  commandType?: string;
}

export interface NewEvent<Type extends string = string, Data = unknown> {
  /** Deterministic per command (see `deterministicId`), so a retried append is not doubled. */
  id: string;
  type: Type;
  data: Data;
  metadata: EventMetadata;
}

/**
 * An opaque, adapter-encoded global position. Compare positions only with the store's
 * `comparePositions`: their text is not meant to sort.
 */
export type GlobalPosition = string;

export interface RecordedEvent<Type extends string = string, Data = unknown> {
  id: string;
  streamId: string;
  /** 0-based index of the event in its stream. */
  revision: number;
  position: GlobalPosition;
  type: Type;
  data: Data;
  metadata: EventMetadata;
}

export interface AppendResult {
  /** The revision of the stream's last event after the append. */
  nextExpectedRevision: number;
  /** The global position of the last event appended. */
  position: GlobalPosition;
}

/** One entry of `appendToStreams`: what `appendToStream` takes, for one stream. */
export interface StreamAppend {
  streamId: string;
  events: readonly NewEvent[];
  expectedRevision: ExpectedRevision;
}

export interface ReadStreamOptions {
  fromRevision?: number;
  maxCount?: number;
}

export interface ReadAllOptions {
  /** Exclusive. Omit to read from the beginning. */
  fromPosition?: GlobalPosition;
  maxCount?: number;
  /**
   * Which events the reader needs the personal data of. A store that seals personal data
   * (src/personalData/protectedEventStore.ts) opens it in those, and in erasures, and leaves every
   * other event as stored: its clear fields and its sealed envelope. Omitted: in every event. A
   * store that seals nothing ignores it.
   */
  opensPersonalDataOf?(eventType: string): boolean;
}

export interface SubscribeOptions {
  /** Exclusive. Omit to start from the beginning of the log. */
  fromPosition?: GlobalPosition;
  /**
   * Called once per event, in global order, awaited before the next (backpressure).
   * An error thrown here stops the subscription and is passed to `onError`.
   */
  onEvent(event: RecordedEvent): Promise<void> | void;
  /** Called each time the subscription has delivered everything stored so far. */
  onCaughtUp?(position: GlobalPosition | undefined): void;
  onError?(error: unknown): void;
}

export interface Subscription {
  /** Stops delivery; resolves once no `onEvent` call is running. */
  stop(): Promise<void>;
}

export interface EventStore {
  /** A short adapter name, for logs and health output. */
  readonly name: string;

  /**
   * Whether `appendToStreams` is all or nothing (one transaction across streams): true for the
   * in-memory store, SQLite and PostgreSQL, false for EventStoreDB. Where it is not, a batch of
   * commands gains nothing from being appended together (`commandBatch.ts`).
   */
  readonly appendsToStreamsAtomically: boolean;

  /**
   * Appends atomically. Throws `ConcurrencyConflictError` when the stream's state does not
   * match `expectedRevision`. Appending events whose ids are already stored at the same place
   * in the same stream (a retried append) writes nothing and returns the original result.
   */
  appendToStream(
    streamId: string,
    events: readonly NewEvent[],
    options: { expectedRevision: ExpectedRevision },
  ): Promise<AppendResult>;

  /**
   * Many appends in one go, for bulk loads: each entry is checked as `appendToStream` checks it
   * (its expected revision against the stream as the entries before it left it; a retried entry
   * answers its original result), in order, and the log receives them in that order. All or
   * nothing where the store has transactions across streams (in-memory, SQLite, PostgreSQL: one
   * transaction, one commit): the first entry refused throws its `ConcurrencyConflictError` and
   * nothing is written. EventStoreDB has none: its entries are appended one after the other, and
   * those before a refused one stay written. Returns one result per entry.
   */
  appendToStreams(appends: readonly StreamAppend[]): Promise<AppendResult[]>;

  /** Reads a stream oldest first. Throws `StreamNotFoundError` if the stream has no event. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;

  /** Reads the whole log in global order, after `fromPosition`. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;

  /** A catch-up subscription to the whole log that goes live once caught up. */
  subscribeToAll(options: SubscribeOptions): Subscription;

  /** The position of the newest event in the store, or undefined when the store is empty. */
  headPosition(): Promise<GlobalPosition | undefined>;

  /** Negative when a comes before b, zero when equal, positive after. */
  comparePositions(a: GlobalPosition, b: GlobalPosition): number;

  close(): Promise<void>;
}

/**
 * What a store may tell apart from the port (SQLite's adapter, and the wrappers around a store):
 * the file that holds its log, absent in memory. A bulk rebuild reads it in SQL, through
 * `headPosition()` at most, for a projection that can make its rows so
 * (`Projection.stageFromSqliteLog`). A global position of that log is its events' rowid.
 */
export interface SqliteLogFile {
  readonly sqliteFile?: string;
}

/** The file of the store's SQLite log (`SqliteLogFile`), if it tells one. */
export const sqliteFileOf = (store: EventStore): string | undefined => (store as EventStore & SqliteLogFile).sqliteFile;

/**
 * What a store adapter may offer a bulk load into it (the seed's, through `appendToStreams`), apart
 * from the port: the events per call it takes best, and `begin()`, which tunes it for the load
 * until the `end` it returns is called (SQLite's).
 */
export interface BulkLoadTuning {
  readonly batchEvents: number;
  begin(): () => void;
}

export class ConcurrencyConflictError extends Error {
  override readonly name = 'ConcurrencyConflictError';
  constructor(
    readonly streamId: string,
    readonly expectedRevision: ExpectedRevision,
    /** The stream's last revision, or NO_STREAM when it has none. */
    readonly actualRevision: number | typeof NO_STREAM,
  ) {
    super(
      `Stream ${streamId} is at ${String(actualRevision)}, the append expected ${String(expectedRevision)}`,
    );
  }
}

export class StreamNotFoundError extends Error {
  override readonly name = 'StreamNotFoundError';
  constructor(readonly streamId: string) {
    super(`Stream ${streamId} does not exist`);
  }
}

/**
 * A StreamNotFoundError without a stack trace, for the stores to throw: every new entity's
 * command reads its stream first, callers catch the error as "no events yet", and capturing a
 * stack for it was a visible part of a capture's cost (issue 11). A factory, not a constructor
 * option: the stack is captured by Error's constructor itself, before a subclass could opt out.
 */
export const streamNotFound = (streamId: string): StreamNotFoundError => {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new StreamNotFoundError(streamId);
  } finally {
    Error.stackTraceLimit = limit;
  }
};

/** Whether a stream whose last revision is `actual` (or none) satisfies `expected`. */
export const matchesExpectedRevision = (
  expected: ExpectedRevision,
  actual: number | typeof NO_STREAM,
): boolean => {
  switch (expected) {
    case ANY:
      return true;
    case NO_STREAM:
      return actual === NO_STREAM;
    case STREAM_EXISTS:
      return actual !== NO_STREAM;
    default:
      return actual === expected;
  }
};

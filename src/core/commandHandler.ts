import { foldEvents, type Decider, type DomainEvent } from './decider';
import { NotFoundError, ValidationError } from './errors';
import { nextEventTimes } from './eventTimes';
import {
  ConcurrencyConflictError,
  NO_STREAM,
  StreamNotFoundError,
  type EventStore,
  type GlobalPosition,
  type NewEvent,
  type RecordedEvent,
} from './eventStore';
import { deterministicId } from './ids';
import { KeyedMutex } from './keyedMutex';

/** Who sends a command, when, and why: everything that must not come from the domain itself. */
export interface CommandContext {
  /** The verified token's subject. */
  actor: string;
  /** The server's clock, read once per request. */
  now: Date;
  /** When the fact happened in the business, if not now (back-dating). */
  occurredAt?: Date;
  /** Derived from the idempotency key when there is one, so that a replay is recognised. */
  commandId: string;
  commandType: string;
  correlationId: string;
  idempotencyKey?: string;
  /** Digest of the command's input, to tell a replay from a reuse of its key. */
  inputHash?: string;
}

export interface HandleOptions {
  /** The revision the client last saw; a stale one is a conflict, never retried. */
  expectedRevision?: number;
  /** Set when the stream must already exist: names the entity of the NOT_FOUND error. */
  existingEntity?: { type: string; id: string };
  /** Re-runs of load-decide-append after a conflict the client did not ask to see. */
  maxRetries?: number;
}

export interface CommandResult<State> {
  streamId: string;
  /** The stream's revision after the command (-1 when nothing was ever written). */
  revision: number;
  /** The global position of the command's last event, or of the stream's last event. */
  position?: GlobalPosition;
  state: State;
  newEvents: readonly RecordedEvent[] | readonly NewEvent[];
  /** True when an earlier identical command had already done the work. */
  replayed: boolean;
}

export const SCHEMA_VERSION = 1;

const DEFAULT_MAX_RETRIES = 5;
const streamLocks = new KeyedMutex();

/**
 * Load, decide, append with the expected revision, and retry a bounded number of times when
 * another writer got there first. Commands on one stream are serialised within this process,
 * so conflicts only arise between processes or against a client's stale revision.
 */
export const handleCommand = async <State, Command, Event extends DomainEvent>(
  store: EventStore,
  decider: Decider<State, Command, Event>,
  streamId: string,
  command: Command,
  context: CommandContext,
  options: HandleOptions = {},
): Promise<CommandResult<State>> =>
  streamLocks.runExclusive(streamId, async () => {
    const maxRetries = options.expectedRevision === undefined ? (options.maxRetries ?? DEFAULT_MAX_RETRIES) : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await handleOnce(store, decider, streamId, command, context, options);
      } catch (error) {
        if (!(error instanceof ConcurrencyConflictError) || attempt >= maxRetries) throw error;
        await backOff(attempt);
      }
    }
  });

const handleOnce = async <State, Command, Event extends DomainEvent>(
  store: EventStore,
  decider: Decider<State, Command, Event>,
  streamId: string,
  command: Command,
  context: CommandContext,
  options: HandleOptions,
): Promise<CommandResult<State>> => {
  const recorded = await readStreamOrEmpty(store, streamId);
  if (recorded.length === 0 && options.existingEntity) {
    throw new NotFoundError(options.existingEntity.type, options.existingEntity.id);
  }

  const earlier = recorded.filter((event) => event.metadata.causationId === context.commandId);
  if (earlier.length > 0) return replay(decider, streamId, recorded, earlier, context);

  const currentRevision = recorded.length - 1;
  if (options.expectedRevision !== undefined && options.expectedRevision !== currentRevision) {
    throw new ConcurrencyConflictError(
      streamId,
      options.expectedRevision,
      currentRevision < 0 ? NO_STREAM : currentRevision,
    );
  }

  const state = foldEvents(decider, recorded as unknown as Event[]);
  const decided = decider.decide(command, state);
  if (decided.length === 0) {
    return {
      streamId,
      revision: currentRevision,
      position: recorded.at(-1)?.position,
      state,
      newEvents: [],
      replayed: false,
    };
  }

  const { recordedAt, occurredAt } = nextEventTimes(context, recorded.at(-1)?.metadata);
  const timed = { ...context, now: recordedAt, occurredAt };
  const newEvents = decided.map((event, index) => toNewEvent(event, index, timed));
  const appended = await store.appendToStream(streamId, newEvents, {
    expectedRevision: currentRevision < 0 ? NO_STREAM : currentRevision,
  });
  return {
    streamId,
    revision: appended.nextExpectedRevision,
    position: appended.position,
    state: decided.reduce(decider.evolve, state),
    newEvents,
    replayed: false,
  };
};

/** The same command came again (a retry, a double click): answer as the first time did. */
const replay = <State, Event extends DomainEvent>(
  decider: Decider<State, never, Event>,
  streamId: string,
  recorded: readonly RecordedEvent[],
  earlier: readonly RecordedEvent[],
  context: CommandContext,
): CommandResult<State> => {
  const original = earlier[0]!;
  if (original.metadata.inputHash !== context.inputHash) {
    throw new ValidationError([
      {
        field: 'idempotencyKey',
        message: 'this key was already used with a different input; use a new key for a new request',
      },
    ]);
  }
  const last = earlier.at(-1)!;
  const upToOriginal = recorded.slice(0, last.revision + 1) as unknown as Event[];
  return {
    streamId,
    revision: last.revision,
    position: last.position,
    state: foldEvents(decider, upToOriginal),
    newEvents: [],
    replayed: true,
  };
};

export const toNewEvent = <Event extends DomainEvent>(
  event: Event,
  index: number,
  context: CommandContext,
): NewEvent => ({
  id: deterministicId(context.commandId, index),
  type: event.type,
  data: event.data,
  metadata: {
    actor: context.actor,
    recordedAt: context.now.toISOString(),
    occurredAt: (context.occurredAt ?? context.now).toISOString(),
    correlationId: context.correlationId,
    causationId: context.commandId,
    schemaVersion: SCHEMA_VERSION,
    commandType: context.commandType,
    ...(context.idempotencyKey === undefined ? {} : { idempotencyKey: context.idempotencyKey }),
    ...(context.inputHash === undefined ? {} : { inputHash: context.inputHash }),
  },
});

export const readStreamOrEmpty = async (store: EventStore, streamId: string): Promise<RecordedEvent[]> => {
  try {
    return await store.readStream(streamId);
  } catch (error) {
    if (error instanceof StreamNotFoundError) return [];
    throw error;
  }
};

const backOff = (attempt: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * 2 ** attempt));

import { foldEvents, type Decider, type DomainEvent } from './decider';
import { NotFoundError } from './errors';
import { nextEventTimes } from './eventTimes';
import {
  ConcurrencyConflictError,
  NO_STREAM,
  StreamNotFoundError,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type GlobalPosition,
  type NewEvent,
  type RecordedEvent,
  type StreamAppend,
} from './eventStore';
import {
  IDEMPOTENCY_KEY_USED,
  idempotencyKeyEventId,
  idempotencyStreamId,
  keyReusedError,
  readKeyUse,
  refuseOtherUse,
  type IdempotencyKeyUsedData,
} from './idempotencyKeys';
import { deterministicId, withTimeOf } from './ids';
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
  /**
   * The fact this command follows from, when another command's event caused it (a list's
   * assignment plan causes each lead's assignment); the command itself otherwise.
   */
  causationId?: string;
}

export interface HandleOptions<State = unknown> {
  /** The revision the client last saw; a stale one is a conflict, never retried. */
  expectedRevision?: number;
  /** Set when the stream must already exist: names the entity of the NOT_FOUND error. */
  existingEntity?: { type: string; id: string };
  /** Re-runs of load-decide-append after a conflict the client did not ask to see. */
  maxRetries?: number;
  /**
   * Called with the entity's current state (folded from its stream, the initial state for a new
   * one) after loading and before deciding, on every attempt; throw to refuse the command, and
   * nothing is written. Not called when the command is a replay of one already recorded: its
   * id derives from the actor, so only the actor that was allowed to run it can replay it, and
   * the replay writes nothing and answers what the first run answered.
   */
  authorize?: (state: State) => void;
  /**
   * The stream's id was drawn at random for this very command (a new entity without an
   * idempotency key), so it has no events: the first attempt decides on the initial state
   * without reading it. The append, with NO_STREAM, still checks that assumption; if it is
   * wrong, the retry reads the stream as usual.
   */
  freshStream?: boolean;
  /**
   * The stream is named after the command's idempotency key (a new entity whose id derives from
   * the key, as an imported row's lead): its own first event then records the key's first use,
   * and no `IdempotencyKeyUsed` is appended (an import stored a second event per row for it).
   * The events' ids carry the digest of the input, so a request that reuses the key with another
   * input finds the stream taken by other ids (a conflict, then a replay refused as a key reuse)
   * instead of passing for a retry of the same append, on every store. A first use recorded by a
   * request that died before its events still binds the key.
   */
  keyNamesStream?: boolean;
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
 *
 * A command with an idempotency key is a replay when its events are on the stream (same input:
 * the first answer; another input: BAD_USER_INPUT). Otherwise the key's first use, recorded on
 * a stream of its own (`idempotencyKeys.ts`), must be this very request (same stream, same
 * input), or the key is refused; when there is none, it is recorded just before the events.
 */
export const handleCommand = async <State, Command, Event extends DomainEvent>(
  store: EventStore,
  decider: Decider<State, Command, Event>,
  streamId: string,
  command: Command,
  context: CommandContext,
  options: HandleOptions<State> = {},
): Promise<CommandResult<State>> =>
  streamLocks.runExclusive(streamId, async () => {
    const maxRetries = options.expectedRevision === undefined ? (options.maxRetries ?? DEFAULT_MAX_RETRIES) : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await handleOnce(store, decider, streamId, command, context, options, attempt === 0 && options.freshStream === true);
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
  options: HandleOptions<State>,
  assumeNoStream: boolean,
): Promise<CommandResult<State>> => {
  const recorded = assumeNoStream ? [] : await readStreamOrEmpty(store, streamId);
  const plan = await planCommand(store, decider, streamId, recorded, command, context, options);
  if ('answer' in plan) return plan.answer;
  if (plan.keyUse) await recordKeyUse(store, plan.keyUse);
  const appended = await store.appendToStream(streamId, plan.events, { expectedRevision: plan.expectedRevision });
  return resultOfAppend(plan, appended);
};

/**
 * What a command comes to once its stream is read: an answer already (a replay of a command
 * recorded before, or a command that records nothing), or what to append. Everything
 * `handleCommand` checks happens here (the entity must exist, a key reused, `authorize`, the
 * client's expected revision, the decider's rules), so that a batch of commands appended together
 * (`commandBatch.ts`) is checked exactly as one command is.
 */
export type CommandPlan<State> = { answer: CommandResult<State> } | PlannedAppend<State>;

export interface PlannedAppend<State> {
  streamId: string;
  /**
   * The first use of the command's idempotency key, to record on the key's stream
   * (`keyUseStreamAppend`) before the events, or together with them; absent for a command without
   * a key, or whose key's first use is recorded already (by this very request, which died
   * before its events).
   */
  keyUse?: NewEvent<typeof IDEMPOTENCY_KEY_USED, IdempotencyKeyUsedData>;
  events: NewEvent[];
  expectedRevision: ExpectedRevision;
  /** The stream's state with the events folded in. */
  state: State;
}

export const planCommand = async <State, Command, Event extends DomainEvent>(
  store: EventStore,
  decider: Decider<State, Command, Event>,
  streamId: string,
  recorded: readonly RecordedEvent[],
  command: Command,
  context: CommandContext,
  options: Pick<HandleOptions<State>, 'existingEntity' | 'authorize' | 'expectedRevision' | 'keyNamesStream'> = {},
): Promise<CommandPlan<State>> => {
  if (recorded.length === 0 && options.existingEntity) {
    throw new NotFoundError(options.existingEntity.type, options.existingEntity.id);
  }

  const earlier = recorded.filter((event) => isCausedBy(event, context));
  if (earlier.length > 0) return { answer: replay(decider, streamId, recorded, earlier, context) };

  // A keyed command not on this stream yet: its key may have been used first elsewhere, or by a
  // request that recorded the key and died before its events (then this one completes it).
  const keyUse = isKeyed(context) ? await readKeyUse(store, context.commandId) : undefined;
  if (keyUse) refuseOtherUse(keyUse, { streamId, inputHash: context.inputHash });

  const state = foldEvents(decider, recorded as unknown as Event[]);
  options.authorize?.(state);

  const currentRevision = recorded.length - 1;
  if (options.expectedRevision !== undefined && options.expectedRevision !== currentRevision) {
    throw new ConcurrencyConflictError(
      streamId,
      options.expectedRevision,
      currentRevision < 0 ? NO_STREAM : currentRevision,
    );
  }

  const decision = decideEvents(decider, state, command, context, recorded.at(-1)?.metadata);
  if (decision === undefined) {
    return {
      answer: {
        streamId,
        revision: currentRevision,
        position: recorded.at(-1)?.position,
        state,
        newEvents: [],
        replayed: false,
      },
    };
  }

  const { decided, newEvents, timed } = decision;
  const keyOnStream = isKeyed(context) && options.keyNamesStream === true;
  return {
    streamId,
    keyUse: isKeyed(context) && !keyUse && !keyOnStream ? keyUseEvent(streamId, { ...timed, occurredAt: undefined }) : undefined,
    events: keyOnStream ? newEvents.map((event, index) => ({ ...event, id: inputBoundEventId(context, index) })) : newEvents,
    expectedRevision: currentRevision < 0 ? NO_STREAM : currentRevision,
    state: decided.reduce(decider.evolve, state),
  };
};

/** The command's answer once its planned events are stored. */
export const resultOfAppend = <State>(plan: PlannedAppend<State>, appended: AppendResult): CommandResult<State> => ({
  streamId: plan.streamId,
  revision: appended.nextExpectedRevision,
  position: appended.position,
  state: plan.state,
  newEvents: plan.events,
  replayed: false,
});

/**
 * The pure middle of handling a command, between reading the stream and appending to it: decide
 * on the folded state, then stamp the events with their ids and times (raised after `last`, the
 * stream's newest event; see `eventTimes.ts`). Undefined when the command records nothing. The
 * bulk seed (`src/seeding/bulkWriter.ts`) runs it on states it keeps in memory.
 */
export const decideEvents = <State, Command, Event extends DomainEvent>(
  decider: Pick<Decider<State, Command, Event>, 'decide'>,
  state: State,
  command: Command,
  context: CommandContext,
  last: Pick<EventMetadata, 'recordedAt' | 'occurredAt'> | undefined,
): { decided: Event[]; newEvents: NewEvent[]; timed: CommandContext } | undefined => {
  const decided = decider.decide(command, state);
  if (decided.length === 0) return undefined;
  const { recordedAt, occurredAt } = nextEventTimes(context, last);
  const timed = { ...context, now: recordedAt, occurredAt };
  return { decided, newEvents: decided.map((event, index) => toNewEvent(event, index, timed)), timed };
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
  if (original.metadata.inputHash !== context.inputHash) throw keyReusedError();
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

const isKeyed = (context: CommandContext): boolean => context.idempotencyKey !== undefined;

/** The id of a command's event that records its key's first use: see `HandleOptions.keyNamesStream`. */
const inputBoundEventId = (context: CommandContext, index: number): string =>
  withTimeOf(context.commandId, deterministicId(context.commandId, index, 'input', context.inputHash ?? ''));

/** The fact of a key's first use (see `idempotencyKeys.ts`), stamped as the command's events are. */
const keyUseEvent = (streamId: string, context: CommandContext): NewEvent<typeof IDEMPOTENCY_KEY_USED, IdempotencyKeyUsedData> => {
  const use: IdempotencyKeyUsedData = {
    commandId: context.commandId,
    commandType: context.commandType,
    streamId,
    ...(context.inputHash === undefined ? {} : { inputHash: context.inputHash }),
  };
  return { ...toNewEvent({ type: IDEMPOTENCY_KEY_USED, data: use }, 0, context), type: IDEMPOTENCY_KEY_USED, data: use, id: idempotencyKeyEventId(use) };
};

/** The append that records a key's first use: to the key's own stream, which must not exist yet. */
export const keyUseStreamAppend = (keyUse: NewEvent<typeof IDEMPOTENCY_KEY_USED, IdempotencyKeyUsedData>): StreamAppend => ({
  streamId: idempotencyStreamId(keyUse.data.commandId),
  events: [keyUse],
  expectedRevision: NO_STREAM,
});

/**
 * Records the key's first use before the command's events (see `idempotencyKeys.ts`): exactly
 * one request per key gets past this point, whichever process it reached. A request that dies
 * between this append and the next leaves the key bound to its input; the same request retried
 * completes it, any other is refused.
 */
const recordKeyUse = async (store: EventStore, keyUse: NewEvent<typeof IDEMPOTENCY_KEY_USED, IdempotencyKeyUsedData>): Promise<void> => {
  const { streamId, events, expectedRevision } = keyUseStreamAppend(keyUse);
  try {
    await store.appendToStream(streamId, events, { expectedRevision });
  } catch (error) {
    if (!(error instanceof ConcurrencyConflictError)) throw error;
    // Another request recorded the key first (the same one would have re-appended the same id).
    const winner = await readKeyUse(store, keyUse.data.commandId);
    if (winner === undefined) throw error;
    refuseOtherUse(winner, keyUse.data);
  }
};

export const toNewEvent = <Event extends DomainEvent>(
  event: Event,
  index: number,
  context: CommandContext,
): NewEvent => ({
  // The same command, retried, yields the same ids; a time-ordered command's sort with it.
  id: withTimeOf(context.commandId, deterministicId(context.commandId, index)),
  type: event.type,
  data: event.data,
  metadata: {
    actor: context.actor,
    recordedAt: context.now.toISOString(),
    occurredAt: (context.occurredAt ?? context.now).toISOString(),
    correlationId: context.correlationId,
    causationId: context.causationId ?? context.commandId,
    schemaVersion: SCHEMA_VERSION,
    commandType: context.commandType,
    ...(context.idempotencyKey === undefined ? {} : { idempotencyKey: context.idempotencyKey }),
    ...(context.inputHash === undefined ? {} : { inputHash: context.inputHash }),
  },
});

/**
 * Whether this command's events are on the stream already (then the command is a replay). A
 * command caused by another fact names that fact as causation; on one stream, the events of
 * that type of command caused by that fact are this command's.
 */
const isCausedBy = (event: RecordedEvent, context: CommandContext): boolean =>
  context.causationId === undefined
    ? event.metadata.causationId === context.commandId
    : event.metadata.causationId === context.causationId && event.metadata.commandType === context.commandType;

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

/**
 * The seed's bulk path: the same deciders and the same stamping as the command handler
 * (`decideEvents`) and the conversion use case (`conversionCommand`, `followUpEvents`), with the
 * plumbing around them made for a load. Each stream's state is kept in memory, folded with the
 * decider's `evolve` as events are decided, instead of being read back before every command; the
 * events go to the store in big batches, one `appendToStreams` (one transaction) per batch, each
 * entry with the expected revision the command handler would have sent.
 *
 * It relies on writing alone: every stream it touches starts empty (the generator takes this path
 * on an empty store only), and anyone else appending meanwhile makes a batch fail its revision
 * checks rather than be silently merged.
 */
import { decideEvents, type CommandContext } from '../core/commandHandler';
import type { Decider, DomainEvent } from '../core/decider';
import { InvalidTransitionError, NotFoundError } from '../core/errors';
import { NO_STREAM, type EventMetadata, type EventStore, type GlobalPosition, type NewEvent, type StreamAppend } from '../core/eventStore';
import { accountStreamId } from '../domain/accounts/events';
import { contactStreamId } from '../domain/contacts/events';
import { conversionFollowUps, type ConversionRequest } from '../domain/leads/conversion';
import { requireConvertible } from '../domain/leads/decide';
import { leadStreamId, type LeadConverted } from '../domain/leads/lead';
import type { Application } from '../composition/application';
import { followUpEvents, refuseToReopen } from '../useCases/conversionCompleter';
import { conversionCommand } from '../useCases/convertLead';

/** Only `evolve` and `initialState` are used on a stream's decider once it is known. */
type AnyDecider = Pick<Decider<unknown, never, DomainEvent>, 'evolve' | 'initialState'>;

interface StreamInMemory {
  decider: AnyDecider;
  /** The revision of the stream's last event; -1 while it has none. */
  revision: number;
  state: unknown;
  /** The times of its last event, which the next event's times may not precede. */
  last: Pick<EventMetadata, 'recordedAt' | 'occurredAt'> | undefined;
}

/** Events per `appendToStreams` call: big enough to spread a commit over thousands of events. */
export const DEFAULT_BULK_BATCH_EVENTS = 4000;

/**
 * Event data as a reader gets it back from the store (JSON: no `undefined` field, no Date), so
 * that the states folded here are the states the command handler would fold from the stream.
 * Most deciders hand out such data already: it is then used as it is, without a copy.
 */
const asStored = <T>(data: T): T => (isStoredAsIs(data) ? data : (JSON.parse(JSON.stringify(data)) as T));

/** True when JSON would give the value back equal: plain objects and arrays of strings, finite numbers, booleans, null. */
const isStoredAsIs = (value: unknown): boolean => {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (Array.isArray(value)) return value.every(isStoredAsIs);
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      for (const key in value) if (!isStoredAsIs((value as Record<string, unknown>)[key])) return false;
      return true;
    }
    default:
      return false;
  }
};

export class BulkWriter {
  private readonly streams = new Map<string, StreamInMemory>();
  private pending: StreamAppend[] = [];
  private pendingEvents = 0;
  /** The batch being written, if any. */
  private writing: Promise<void> | undefined;
  private failure: Error | undefined;
  /** The global position of the last event written, once a batch is. */
  lastPosition: GlobalPosition | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly batchEvents = DEFAULT_BULK_BATCH_EVENTS,
  ) {}

  /** The stream's state as decided so far (the decider's initial state for a stream not written). */
  stateOf<State>(decider: Decider<State, never, DomainEvent>, streamId: string): State {
    const stream = this.streams.get(streamId);
    return stream ? (stream.state as State) : decider.initialState();
  }

  /** What `handleCommand` would append for this command, queued for the next batch. */
  decide<State, Command, Event extends DomainEvent>(
    decider: Decider<State, Command, Event>,
    streamId: string,
    command: Command,
    context: CommandContext,
  ): NewEvent[] {
    const stream = this.streams.get(streamId);
    const state = stream ? (stream.state as State) : decider.initialState();
    const decision = decideEvents(decider, state, command, context, stream?.last);
    if (decision === undefined) return [];
    this.queue(decider as AnyDecider, streamId, decision.newEvents);
    return decision.newEvents;
  }

  /** Queues events stamped elsewhere (a conversion's follow-ups), folding them into the stream's state. */
  queue(decider: AnyDecider, streamId: string, events: NewEvent[]): void {
    let stream = this.streams.get(streamId);
    if (stream === undefined) {
      stream = { decider, revision: -1, state: decider.initialState(), last: undefined };
      this.streams.set(streamId, stream);
    }
    this.pending.push({ streamId, events, expectedRevision: stream.revision < 0 ? NO_STREAM : stream.revision });
    for (const event of events) stream.state = decider.evolve(stream.state, { type: event.type, data: asStored(event.data) });
    stream.revision += events.length;
    stream.last = events.at(-1)!.metadata;
    this.pendingEvents += events.length;
  }

  /**
   * Lets go of streams nothing more will be decided on. Writing to one again would start it
   * afresh, expecting no stream, and the store would refuse the append: never silently wrong.
   */
  forget(streamIds: Iterable<string>): void {
    for (const streamId of streamIds) this.streams.delete(streamId);
  }

  /** How many events the stream holds, written or queued. */
  eventsOn(streamId: string): number {
    return (this.streams.get(streamId)?.revision ?? -1) + 1;
  }

  lastMetadataOf(streamId: string): Pick<EventMetadata, 'recordedAt' | 'occurredAt'> | undefined {
    return this.streams.get(streamId)?.last;
  }

  get batchIsFull(): boolean {
    return this.pendingEvents >= this.batchEvents;
  }

  /**
   * Sends what is queued in one `appendToStreams`, once the batch before it is written, and
   * returns without waiting for this one: the next batch is decided while the database writes
   * (PostgreSQL works in its own process; SQLite writes at once, in this thread). Entries stay in
   * order: a batch is sent only after the one before it is stored.
   */
  async flush(): Promise<void> {
    await this.written();
    if (this.pending.length === 0) return;
    const batch = this.pending;
    const events = this.pendingEvents;
    this.pending = [];
    this.pendingEvents = 0;
    this.writing = this.store.appendToStreams(batch).then(
      (results) => {
        this.lastPosition = results.at(-1)!.position;
      },
      // Kept until `written` is awaited: a rejection nobody listens to yet would end the process.
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        this.failure = new Error(`A bulk append of ${events} events was refused (was another process writing?): ${message}`, { cause: error });
      },
    );
  }

  /** Resolves once every batch sent is stored (and `lastPosition` is the last event's). */
  async written(): Promise<void> {
    const writing = this.writing;
    this.writing = undefined;
    await writing;
    if (this.failure) throw this.failure;
  }
}

/**
 * A conversion as `convertLead` makes it, on the states in memory: the lead's `LeadConverted`,
 * then the follow-ups `completeConversion` appends, stamped alike. The duplicate lookup in the
 * read models is left out: the seed asks for `allowDuplicate` (and a load cannot wait for the
 * read models). Returns the fact as the lead stream records it.
 */
export const convertInBulk = (
  writer: BulkWriter,
  app: Pick<Application, 'leadDecider' | 'accountDecider' | 'contactDecider' | 'opportunityDecider' | 'pipeline'>,
  request: ConversionRequest,
  context: CommandContext,
): LeadConverted['data'] => {
  if (!request.allowDuplicate || request.existingContactId) {
    throw new RangeError('The bulk path converts with allowDuplicate and no existing contact only, as the seed does');
  }
  const streamId = leadStreamId(request.leadId);
  const lead = writer.stateOf(app.leadDecider, streamId);
  if (lead.status === 'NONE') throw new NotFoundError('Lead', request.leadId);
  requireConvertible(lead);
  const accountId = request.account?.existingAccountId;
  if (accountId && writer.eventsOn(accountStreamId(accountId)) === 0) throw new NotFoundError('Account', accountId);

  const command = conversionCommand(lead, request, context.actor, { pipeline: app.pipeline });
  const converted = writer.decide(app.leadDecider, streamId, command, context).find((event) => event.type === 'LeadConverted');
  if (!converted) throw new InvalidTransitionError('CONVERTED', 'This lead was already converted with a different request');
  const fact = asStored(converted.data as LeadConverted['data']);
  for (const followUp of conversionFollowUps(fact)) {
    refuseToReopen(followUp, writer.eventsOn(followUp.streamId));
    const last = writer.lastMetadataOf(followUp.streamId);
    const events = followUpEvents(converted, followUp, last && { metadata: last }, context.now);
    writer.queue(deciderOfFollowUp(app, followUp.streamId), followUp.streamId, events);
  }
  return fact;
};

const deciderOfFollowUp = (app: Pick<Application, 'accountDecider' | 'contactDecider' | 'opportunityDecider'>, streamId: string): AnyDecider => {
  if (streamId.startsWith(accountStreamId(''))) return app.accountDecider as AnyDecider;
  if (streamId.startsWith(contactStreamId(''))) return app.contactDecider as AnyDecider;
  return app.opportunityDecider as AnyDecider;
};

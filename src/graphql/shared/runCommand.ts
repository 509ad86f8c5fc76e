import { AuthenticationError } from 'type-graphql';
import type { SqlDatabase } from '../../../projections/sqlDatabase';
import type { Application } from '../../composition/application';
import { requestedOccurredAt } from '../../core/backdating';
import { handleCommand, type CommandContext, type CommandResult } from '../../core/commandHandler';
import type { Decider, DomainEvent } from '../../core/decider';
import type { GlobalPosition, NewEvent } from '../../core/eventStore';
import { deterministicId, digest, newId } from '../../core/ids';
import type { GraphQLContext } from './context';

export interface CommandRequest<State, Command, Event extends DomainEvent> {
  decider: Decider<State, Command, Event>;
  streamId: string;
  command: Command;
  commandType: string;
  /** The mutation's input as the client sent it: its digest tells a replay from a key reuse. */
  input: { idempotencyKey?: string | null; expectedRevision?: number | null };
  /** Set for commands on an entity that must exist (NOT_FOUND otherwise). */
  existingEntity?: { type: string; id: string };
  /** When the resolver already derived it (to name a new entity), so it is computed once. */
  commandId?: string;
  /**
   * Refuses the command (by throwing) from the entity's current state, before it is decided;
   * nothing is written then. Not called on a replay of a command already recorded (see
   * `HandleOptions.authorize`).
   */
  authorize?: (state: State) => void;
  /**
   * The read models the answer reads: a stopped one of these makes the mutation answer
   * READ_MODEL_STOPPED; others stopped are not waited for. Undefined: judged by event types.
   */
  readModels?: readonly string[];
  /** The stream's id was just drawn at random: see `HandleOptions.freshStream`. */
  freshStream?: boolean;
}

export const requireActor = (context: GraphQLContext): string => {
  if (!context.identity) throw new AuthenticationError('A valid bearer token is required');
  return context.identity.actor;
};

/**
 * The id of a command: derived from the client's idempotency key (scoped to the actor and the
 * mutation, so two users' keys never collide), or fresh when the client sent none.
 */
export const commandIdFor = (context: GraphQLContext, commandType: string, idempotencyKey?: string | null) =>
  idempotencyKey ? deterministicId(requireActor(context), commandType, idempotencyKey) : newId();

/** Who, when and why, for a command issued by this request; `occurredAt` back-dates it. */
export const commandContextFor = (
  context: GraphQLContext,
  commandType: string,
  input: { idempotencyKey?: string | null; expectedRevision?: number | null; occurredAt?: Date | string | null },
  commandId: string = commandIdFor(context, commandType, input.idempotencyKey),
  /** How far back `occurredAt` may go: the configured window unless a bulk import says otherwise. */
  backdateLimitDays: number = context.app.backdateLimitDays,
): CommandContext => {
  const { idempotencyKey, ...meaningfulInput } = input;
  const occurredAt = requestedOccurredAt(input.occurredAt, context.requestTime, backdateLimitDays);
  return {
    actor: requireActor(context),
    now: context.requestTime,
    occurredAt,
    commandId,
    commandType,
    correlationId: context.correlationId,
    idempotencyKey: idempotencyKey ?? undefined,
    inputHash: idempotencyKey ? digest({ ...meaningfulInput, occurredAt: occurredAt?.toISOString() }) : undefined,
  };
};

/**
 * Runs a command for a GraphQL mutation, then waits until the read models have seen its events,
 * so that the client's next query reads its own write.
 */
export const runCommand = async <State, Command, Event extends DomainEvent>(
  context: GraphQLContext,
  request: CommandRequest<State, Command, Event>,
): Promise<CommandResult<State>> => {
  const result = await handleCommand(
    context.app.store,
    request.decider,
    request.streamId,
    request.command,
    commandContextFor(context, request.commandType, request.input, request.commandId),
    {
      expectedRevision: request.input.expectedRevision ?? undefined,
      existingEntity: request.existingEntity,
      authorize: request.authorize,
      freshStream: request.freshStream,
    },
  );
  if (result.position !== undefined) {
    await context.app.readModels.waitForPosition(result.position, undefined, { readModels: request.readModels });
  }
  return result;
};

/**
 * A new entity's id and the id of the command that creates it: with an idempotency key both
 * derive from it, so a replay addresses the same entity.
 */
export const newEntityIds = (
  context: GraphQLContext,
  commandType: string,
  idempotencyKey: string | null | undefined,
  entity: string,
): { commandId: string; id: string } => {
  const commandId = commandIdFor(context, commandType, idempotencyKey);
  return { commandId, id: idempotencyKey ? deterministicId(commandId, entity) : newId() };
};

/** What `mutate` needs to know of a kind of entity: its decider, its stream, its read model. */
export interface EntityKind<
  State,
  Command extends { type: string },
  Event extends DomainEvent,
  View extends { revision: number },
  Payload,
> {
  /** As NOT_FOUND names it: `Lead`, `Account`... */
  name: string;
  decider(app: Application): Decider<State, Command, Event>;
  streamId(id: string): string;
  /** The entity's row in its read model, as it is now. */
  read(db: SqlDatabase, id: string): Promise<View | undefined>;
  /**
   * The entity as `read` gave it, or would have given it, right after revision `at.revision` of
   * its stream (whose event is at global position `at.position`) and before any later write:
   * folded from the stream by the read model's own code (`src/useCases/atRevision.ts`).
   */
  readAt(app: Application, id: string, at: { revision: number; position: GlobalPosition }): Promise<View | undefined>;
  /**
   * What `readAt` gives for a command that opened the entity's stream, folded from that command's
   * own `events` (all the stream holds up to `at`) without reading the log back; undefined when
   * it cannot tell, and `readAt` reads.
   */
  openedBy?(app: Application, id: string, events: readonly NewEvent[], at: { revision: number; position: GlobalPosition }): View | undefined;
  /**
   * Whether a row `read` gave is the entity as it was right after `at`: by default when it is at
   * that revision. A lead's row also changes without a revision of its own (an automatic score).
   */
  isAt?(app: Application, view: View, at: { revision: number; position: GlobalPosition }): boolean;
  payload(view: View, context: GraphQLContext): Payload;
  /** The read models the payload reads (projection names), so a stopped other one does not fail it. */
  readModels: readonly string[];
  /** The rule every command on an existing entity of this kind passes (ownership), if any. */
  authorize?(context: GraphQLContext): (state: State) => void;
}

/**
 * The one path of a single-entity mutation: run the command on the entity's stream, wait for
 * the read models, and answer the payload of the entity as it was right after the command's own
 * write, at `result.revision` of its stream (for a replay, the original command's revision), so
 * that the `revision` answered is the one to send back as `expectedRevision`, and a replay
 * answers what the first run did. A command that opened the stream answers the entity folded from
 * its own events (`kind.openedBy`, where the kind has it). Otherwise the read model's row is
 * usually at exactly that revision and is answered as it is; when later writes have moved it on,
 * or for a replay, the entity is folded at that revision from its stream (`kind.readAt`).
 */
export const mutate = async <
  State,
  Command extends { type: string },
  Event extends DomainEvent,
  View extends { revision: number },
  Payload,
>(
  context: GraphQLContext,
  kind: EntityKind<State, Command, Event, View, Payload>,
  id: string,
  /** The mutation's input as `plainInput` gave it to the resolver (so it is computed once). */
  input: { idempotencyKey?: string | null; expectedRevision?: number | null },
  command: Command,
  options: { isNew?: boolean; commandId?: string; authorize?: (state: State) => void } = {},
): Promise<Payload> => {
  const result = await runCommand(context, {
    decider: kind.decider(context.app),
    streamId: kind.streamId(id),
    command,
    commandType: command.type,
    input,
    existingEntity: options.isNew ? undefined : { type: kind.name, id },
    commandId: options.commandId,
    authorize: options.authorize ?? (options.isNew ? undefined : kind.authorize?.(context)),
    readModels: kind.readModels,
    // A new entity's id is random unless an idempotency key derives it (`newEntityIds`).
    freshStream: options.isNew === true && !input.idempotencyKey && input.expectedRevision == null,
  });
  const at = result.position === undefined ? undefined : { revision: result.revision, position: result.position };
  // A command that opened the stream (not a replay of one): its own events say what the entity was
  // right after it, as the read model folds them, with no read. The read waited its turn behind
  // every other request's: on PostgreSQL a round trip, 23 ms at the median for a capture beside 20
  // readers (bench:readers, timed in a patched build). The read models were still waited for above:
  // the next query sees them.
  const opened = !result.replayed && at !== undefined && result.revision === result.newEvents.length - 1;
  const ownView = opened ? kind.openedBy?.(context.app, id, result.newEvents, at) : undefined;
  if (ownView !== undefined) return kind.payload(ownView, context);
  const live = await kind.read(context.app.readDb, id);
  if (live !== undefined && live.revision === result.revision) {
    if (at === undefined || kind.isAt === undefined || kind.isAt(context.app, live, at)) return kind.payload(live, context);
  }
  if (at === undefined) throw new Error(`${kind.name} ${id} is missing from the read model after revision ${result.revision}`);
  const view = await kind.readAt(context.app, id, at);
  if (!view) throw new Error(`${kind.name} ${id} is missing from the read model after revision ${result.revision}`);
  return kind.payload(view, context);
};

import { AuthenticationError } from 'type-graphql';
import { handleCommand, type CommandContext, type CommandResult } from '../core/commandHandler';
import type { Decider, DomainEvent } from '../core/decider';
import { deterministicId, digest, newId } from '../core/ids';
import { requestedOccurredAt } from '../timeTravel/backdating';
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
): CommandContext => {
  const { idempotencyKey, ...meaningfulInput } = input;
  const occurredAt = requestedOccurredAt(input.occurredAt, context.requestTime, context.app.backdateLimitDays);
  return {
    actor: requireActor(context),
    now: context.requestTime,
    occurredAt,
    commandId: commandIdFor(context, commandType, idempotencyKey),
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
    commandContextFor(context, request.commandType, request.input),
    { expectedRevision: request.input.expectedRevision ?? undefined, existingEntity: request.existingEntity },
  );
  if (result.position !== undefined) await context.app.readModels.waitForPosition(result.position);
  return result;
};

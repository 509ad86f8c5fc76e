/**
 * What a write answers when its events are recorded but a read model its answer is built from
 * is stopped (set aside on an event it failed on): the client must learn that the write IS
 * recorded, so that it does not send it again, and that reading it back will not show it yet.
 *
 * It is a GraphQLError so that the API passes its code on as it is, in production too (the
 * error formatter hides the details of any other error). Its `extensions`:
 * `{ code: 'READ_MODEL_STOPPED', recorded: true, position, readModels: [{ name, eventId, position, since }] }`.
 */
import { GraphQLError } from 'graphql';
import type { GlobalPosition } from '../../src/core/eventStore';
import type { ProjectionFailure } from '../checkpoints';

export const READ_MODEL_STOPPED = 'READ_MODEL_STOPPED';

export class ReadModelStoppedError extends GraphQLError {
  override readonly name = 'ReadModelStoppedError';

  constructor(
    readonly position: GlobalPosition,
    readonly failures: readonly ProjectionFailure[],
  ) {
    const names = failures.map((failure) => failure.name).join(', ');
    const models = failures.length === 1 ? `the read model ${names} is` : `the read models ${names} are`;
    super(
      `The write is recorded (at position ${position}), but ${models} stopped on an event that failed to ` +
        `project, so this answer cannot show it. Do not send the write again; GET /readyz lists the failure.`,
      {
        extensions: {
          code: READ_MODEL_STOPPED,
          recorded: true,
          position,
          readModels: failures.map(({ name, eventId, position: failedAt, since }) => ({
            name,
            eventId,
            position: failedAt,
            since,
          })),
        },
      },
    );
  }
}

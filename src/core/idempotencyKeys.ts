/**
 * The first use of an idempotency key, recorded as a fact on a stream of its own.
 *
 * A command's id derives from its key (actor, mutation, key) and its events' ids from the
 * command id, so the entity's own stream recognises a replay. That is not enough on its own:
 * - two requests with the same key and different inputs, racing from two processes, derive the
 *   same event ids, and the loser's append reads as an idempotent re-append of the winner's;
 * - the same key sent for *another* entity lands on a stream where the first use is invisible
 *   (SQLite and PostgreSQL then refuse the reused event ids as a conflict that never clears;
 *   EventStoreDB, which has no index by event id, would accept them).
 *
 * So before a keyed command's events are appended, `IdempotencyKeyUsed` is appended with
 * `NO_STREAM` to `idempotency-<command id>`: the store's single-stream check makes exactly one
 * first use win, on any adapter. Its id derives from the command id, the entity's stream and
 * the input hash, so the same request retried re-appends the same event (a no-op), while a
 * different one conflicts and then reads what won. Projections do not handle this type; the
 * audit trail lists it under the `idempotency` category.
 */
import { ValidationError } from './errors';
import { StreamNotFoundError, type EventStore } from './eventStore';
import { deterministicId } from './ids';

export const IDEMPOTENCY_KEY_USED = 'IdempotencyKeyUsed' as const;

export interface IdempotencyKeyUsedData {
  commandId: string;
  commandType: string;
  /** The stream the command was for: the key is bound to it. */
  streamId: string;
  /** The digest of the request's input (absent when the caller gave none). */
  inputHash?: string;
}

export const idempotencyStreamId = (commandId: string): string => `idempotency-${commandId}`;

/** The same for the same command, stream and input: a retried first use appends nothing new. */
export const idempotencyKeyEventId = (use: IdempotencyKeyUsedData): string =>
  deterministicId(use.commandId, IDEMPOTENCY_KEY_USED, use.streamId, use.inputHash ?? '');

/** The recorded first use of the command's key, if any. */
export const readKeyUse = async (store: EventStore, commandId: string): Promise<IdempotencyKeyUsedData | undefined> => {
  try {
    const [first] = await store.readStream(idempotencyStreamId(commandId), { maxCount: 1 });
    return first?.data as IdempotencyKeyUsedData | undefined;
  } catch (error) {
    if (error instanceof StreamNotFoundError) return undefined;
    throw error;
  }
};

/** Throws BAD_USER_INPUT unless `request` is the request that first used the key. */
export const refuseOtherUse = (
  recorded: Pick<IdempotencyKeyUsedData, 'streamId' | 'inputHash'>,
  request: Pick<IdempotencyKeyUsedData, 'streamId' | 'inputHash'>,
): void => {
  if (recorded.streamId === request.streamId && recorded.inputHash === request.inputHash) return;
  throw keyReusedError();
};

export const keyReusedError = (): ValidationError =>
  new ValidationError([
    {
      field: 'idempotencyKey',
      message: 'this key was already used with a different input; use a new key for a new request',
    },
  ]);

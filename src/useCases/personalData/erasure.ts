/**
 * Erasing a person (GDPR art. 17) without rewriting history: one `PersonalDataErased` event,
 * with no personal data in it, names the person's leads, contacts and keys; the key shredder
 * destroys the keys as it follows the log (`src/personalData/keyShredder.ts`), and every read
 * model drops its copies. The events stay byte for byte; their personal fields read as erased.
 */
import { handleCommand, type CommandContext } from '../../core/commandHandler';
import type { EventStore, GlobalPosition } from '../../core/eventStore';
import {
  createErasureDecider,
  personalDataStreamId,
  type ErasureOrigin,
  type ErasureState,
  type PersonalDataErased,
} from '../../domain/personalData';
import { findPerson } from './person';

export interface ErasureDeps {
  store: EventStore;
  sealedStore: EventStore;
}

export interface ErasureRequest {
  subjectId: string;
  reason: string;
  origin: ErasureOrigin;
}

export interface ErasureResult {
  erasure: PersonalDataErased['data'];
  /** When the (last) erasure was recorded: the earlier one, for a repeated request. */
  erasedAt: string;
  erasedBy: string;
  /** True when the subject had been erased before: nothing new was recorded. */
  alreadyErased: boolean;
  /** Events of the person written before encryption: their personal fields are still in clear. */
  unsealedEvents: number;
  /** Where the erasure sits in the log: the read models are clean once they pass it. */
  position?: GlobalPosition;
}

const decider = createErasureDecider();

export const erasePersonalData = async (
  deps: ErasureDeps,
  request: ErasureRequest,
  context: CommandContext,
): Promise<ErasureResult> => {
  const person = await findPerson(deps.sealedStore, request.subjectId);
  const streamId = personalDataStreamId(request.subjectId);
  const result = await handleCommand<ErasureState, Parameters<typeof decider.decide>[0], PersonalDataErased>(
    deps.store,
    decider,
    streamId,
    {
      type: 'ErasePersonalData',
      data: {
        subjectId: request.subjectId,
        leadIds: person.leadIds,
        contactIds: person.contactIds,
        keyIds: person.keyIds,
        origin: request.origin,
        reason: request.reason,
      },
    },
    context,
  );
  const recorded = await deps.store.readStream(streamId);
  const last = recorded.at(-1)!;
  const state = result.state;
  return {
    erasure: state.erasures.at(-1)!,
    erasedAt: last.metadata.recordedAt,
    erasedBy: last.metadata.actor,
    alreadyErased: result.newEvents.length === 0 && !result.replayed,
    unsealedEvents: person.unsealedEvents.length,
    position: result.position,
  };
};

/**
 * Erasing a person (GDPR art. 17) without rewriting history: one `PersonalDataErased` event,
 * with no personal data in it, names the person's leads, contacts and keys; the key shredder
 * destroys the keys as it follows the log (`src/personalData/keyShredder.ts`), and every read
 * model drops its copies. The events stay byte for byte; their personal fields read as erased.
 */
import { handleCommand, readStreamOrEmpty, type CommandContext } from '../../core/commandHandler';
import { foldEvents, type Decider } from '../../core/decider';
import type { EventStore, GlobalPosition, RecordedEvent } from '../../core/eventStore';
import {
  createErasureDecider,
  personalDataStreamId,
  type ErasePersonalData,
  type ErasureOrigin,
  type ErasureState,
  type PersonalDataErased,
  type PersonalDataEvent,
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

const erasureDecider = createErasureDecider();

/**
 * Erasures are recorded on the stream of the id they were asked for (`personal-data-<id>`), but
 * they are about the person: one recorded under another id of the same person (the lead, then the
 * contact it became) counts as well, so asking again by any of their ids records nothing new
 * unless the person has gained data the earlier erasures did not name.
 */
export const erasePersonalData = async (
  deps: ErasureDeps,
  request: ErasureRequest,
  context: CommandContext,
): Promise<ErasureResult> => {
  const person = await findPerson(deps.sealedStore, request.subjectId);
  const streamId = personalDataStreamId(request.subjectId);
  const byPosition = (a: RecordedEvent, b: RecordedEvent) => deps.store.comparePositions(a.position, b.position);
  const otherIds = [...person.leadIds, ...person.contactIds].filter((id) => id !== request.subjectId);
  const underOtherIds = (
    await Promise.all(otherIds.map((id) => readStreamOrEmpty(deps.store, personalDataStreamId(id))))
  )
    .flat()
    .filter((event) => event.type === 'PersonalDataErased')
    .sort(byPosition);
  const decider: Decider<ErasureState, ErasePersonalData, PersonalDataEvent> = {
    ...erasureDecider,
    initialState: () => foldEvents(erasureDecider, underOtherIds as unknown as PersonalDataEvent[]),
  };
  const result = await handleCommand(
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
  const own = (await readStreamOrEmpty(deps.store, streamId)).filter((event) => event.type === 'PersonalDataErased');
  // This command's erasure (just recorded, or recorded by the request it replays); otherwise the
  // latest erasure that already covered the person, under whichever of their ids.
  const recorded =
    result.newEvents.length > 0 || result.replayed
      ? own.filter((event) => event.metadata.causationId === context.commandId).at(-1)
      : [...underOtherIds, ...own].sort(byPosition).at(-1);
  if (!recorded) throw new Error(`No erasure recorded for ${request.subjectId} after erasing it`);
  return {
    erasure: recorded.data as PersonalDataErased['data'],
    erasedAt: recorded.metadata.recordedAt,
    erasedBy: recorded.metadata.actor,
    alreadyErased: result.newEvents.length === 0 && !result.replayed,
    unsealedEvents: person.unsealedEvents.length,
    position: result.position,
  };
};

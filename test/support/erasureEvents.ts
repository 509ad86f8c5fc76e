/**
 * Events for read-model tests of erasure, built by hand: recorded events in one global order,
 * and what the event store hands out for one of them once its person's key is destroyed.
 */
import type { RecordedEvent } from '../../src/core/eventStore';
import { personalFieldsOf } from '../../src/domain/personalData';
import { erasedView, takePersonal } from '../../src/personalData/envelope';

/** A maker of recorded events whose positions follow the order they are made in. */
export const eventRecorder = () => {
  let position = 0;
  return (streamId: string, revision: number, type: string, data: unknown, minute = 0): RecordedEvent => {
    const at = new Date(Date.UTC(2024, 4, 1, 9, minute + revision)).toISOString();
    return {
      id: `${streamId}@${revision}`,
      streamId,
      revision,
      position: String(++position),
      type,
      data,
      metadata: { actor: 'user-alice', recordedAt: at, occurredAt: at, correlationId: 'c', causationId: 'c', schemaVersion: 1 },
    };
  };
};

/** The event as the event store gives it once its person's key is destroyed (src/personalData/envelope.ts). */
export const asReadAfterErasure = (event: RecordedEvent): RecordedEvent => {
  const { clear, fields } = takePersonal(event.data as Record<string, unknown>, personalFieldsOf(event.type));
  return fields.length === 0 ? event : { ...event, data: erasedView(clear, fields) };
};

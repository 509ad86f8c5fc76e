/** For the event store tests: a subscription to all events that collects what it is given. */
import { expect, vi } from 'vitest';
import type { EventStore, RecordedEvent } from '../../src/core/eventStore';

/** Subscribed to all of `store`, once it has caught up (stopped again if it never does). */
export const subscribedAndCaughtUp = async (store: EventStore) => {
  const delivered: RecordedEvent[] = [];
  let caughtUp = false;
  const subscription = store.subscribeToAll({
    onEvent: (event) => void delivered.push(event),
    onCaughtUp: () => (caughtUp = true),
  });
  try {
    await vi.waitFor(() => expect(caughtUp).toBe(true));
  } catch (error) {
    await subscription.stop();
    throw error;
  }
  return { delivered, subscription };
};

/**
 * One subscriber's notifications: events queued as the feed hands them on, turned into answers
 * one at a time as the client takes them. Bounded: a client that does not keep up is told so and
 * disconnected (`onOverflow`) rather than growing the server's memory: when an event has waited
 * longer than `maxLagMs` (a burst, such as an import, is fine for a client that reads it), or
 * when `maxQueued` are waiting.
 */
import type { RecordedEvent } from '../../core/eventStore';

export class SlowConsumerError extends Error {
  override readonly name = 'SlowConsumerError';
}

export interface EventQueueOptions<T> {
  /** The answer to send for an event, or undefined to send nothing (filtered out). */
  map(event: RecordedEvent): Promise<T | undefined> | T | undefined;
  maxQueued: number;
  maxLagMs: number;
  onOverflow(): void;
  /** Called once the subscriber is gone (the client stopped, or was dropped). */
  onEnd(): void;
}

export const eventQueue = <T>(options: EventQueueOptions<T>) => {
  const queued: RecordedEvent[] = [];
  const queuedAt: number[] = [];
  let wake: (() => void) | undefined;
  let ended = false;

  const end = () => {
    if (ended) return;
    ended = true;
    queued.length = 0;
    queuedAt.length = 0;
    options.onEnd();
    wake?.();
  };

  const push = (event: RecordedEvent) => {
    if (ended) return;
    const now = Date.now();
    if (queued.length >= options.maxQueued || (queuedAt.length > 0 && now - queuedAt[0]! > options.maxLagMs)) {
      end();
      options.onOverflow();
      return;
    }
    queued.push(event);
    queuedAt.push(now);
    wake?.();
  };

  const iterator: AsyncIterableIterator<T> = {
    async next(): Promise<IteratorResult<T>> {
      for (;;) {
        if (ended) return { done: true, value: undefined };
        const event = queued.shift();
        queuedAt.shift();
        if (event === undefined) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        const answer = await options.map(event);
        if (answer !== undefined && !ended) return { done: false, value: answer };
      }
    },
    async return(): Promise<IteratorResult<T>> {
      end();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return { push, iterator };
};

/**
 * The change feed when the read models cannot say yes: a read model set aside on a failing event
 * (it will not take any event in until mended), and a read database that fails for a while.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NO_STREAM, type EventStore, type GlobalPosition, type RecordedEvent } from '../../core/eventStore';
import { newId } from '../../core/ids';
import { createInMemoryEventStore } from '../../eventStores/inMemory';
import { ReadModelStoppedError } from '../../../projections/leadership/readModelStoppedError';
import { ChangeFeed } from './changeFeed';

const append = (store: EventStore, streamId: string) =>
  store.appendToStream(
    streamId,
    [
      {
        id: newId(),
        type: 'SomethingHappened',
        data: {},
        metadata: { actor: 'a', recordedAt: new Date().toISOString(), occurredAt: new Date().toISOString(), correlationId: 'c', causationId: 'c', schemaVersion: 1 },
      },
    ],
    { expectedRevision: NO_STREAM },
  );

const feedWith = (store: EventStore, waitForPosition: (position: GlobalPosition) => Promise<void>) =>
  new ChangeFeed({ store, readModels: { waitForPosition } } as unknown as ConstructorParameters<typeof ChangeFeed>[0]);

describe('the change feed', () => {
  const feeds: ChangeFeed[] = [];
  afterEach(async () => {
    for (const feed of feeds.splice(0)) await feed.close();
    vi.restoreAllMocks();
  });

  it('hands events on while a read model is stopped, says so once, and does not spin', async () => {
    const store = createInMemoryEventStore();
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    let asked = 0;
    const stopped = (position: GlobalPosition) => {
      asked++;
      return Promise.reject(
        new ReadModelStoppedError(position, [
          { name: 'leads', eventId: 'e1', eventType: 'LeadCaptured', streamId: 'lead-1', position: '1', error: 'boom', since: '2026-01-01T00:00:00.000Z' },
        ] as unknown as ConstructorParameters<typeof ReadModelStoppedError>[1]),
      );
    };
    const feed = feedWith(store, stopped);
    feeds.push(feed);
    const received: RecordedEvent[] = [];
    feed.listen((event) => received.push(event));
    await feed.ready();
    for (const stream of ['s-1', 's-2', 's-3']) await append(store, stream);
    await vi.waitFor(() => expect(received.map((event) => event.streamId)).toEqual(['s-1', 's-2', 's-3']));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(asked).toBe(3);
    expect(errors.mock.calls.map((call) => String(call[0]))).toEqual(['The change feed hands events on while a read model is stopped: leads at e1']);
  });

  it('waits a moment before asking again when the read models cannot answer, and hands the event on once they do', async () => {
    const store = createInMemoryEventStore();
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    let asked = 0;
    const flaky = () => (++asked < 3 ? Promise.reject(new Error('database is locked')) : Promise.resolve());
    const feed = feedWith(store, flaky);
    feeds.push(feed);
    const received: RecordedEvent[] = [];
    feed.listen((event) => received.push(event));
    await feed.ready();
    const started = Date.now();
    await append(store, 's-1');
    await vi.waitFor(() => expect(received).toHaveLength(1), { timeout: 5_000 });
    expect(asked).toBe(3);
    // Two failures, a second's pause after each: not asked again at once.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
  });
});

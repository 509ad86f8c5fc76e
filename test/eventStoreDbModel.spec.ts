/**
 * The protocol model of test/support/eventStoreDbModel.ts (not the server), through the real
 * `@eventstore/db-client`: the behaviours the adapter relies on, each as the server's source has
 * it (see the model's header for the citations).
 */
import { randomUUID } from 'node:crypto';
import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  type Position,
} from '@eventstore/db-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startEventStoreDbModel, type EventStoreDbModel } from './support/eventStoreDbModel';

const anEvent = () => jsonEvent({ id: randomUUID(), type: 'Tested', data: { n: randomUUID() } });
const collect = async <T>(read: AsyncIterable<T>) => {
  const items: T[] = [];
  for await (const item of read) items.push(item);
  return items;
};

describe.each([true, false])('EventStoreDB protocol model (not the server), BatchAppend advertised: %s', (advertiseBatchAppend) => {
  let model: EventStoreDbModel;
  let client: EventStoreDBClient;
  beforeAll(async () => {
    model = await startEventStoreDbModel({ advertiseBatchAppend });
    client = EventStoreDBClient.connectionString(model.url);
  });
  afterAll(async () => {
    await client.dispose();
    await model.close();
  });

  it('is appended to through the path its server features advertise', async () => {
    await client.appendToStream(`s-${randomUUID()}`, [anEvent()], { expectedRevision: NO_STREAM });
    expect(model.calls[advertiseBatchAppend ? 'batchAppend' : 'append']).toBeGreaterThan(0);
    expect(model.calls[advertiseBatchAppend ? 'append' : 'batchAppend']).toBe(0);
  });

  it('answers a wrong expected version with the actual revision, for every form', async () => {
    const streamId = `s-${randomUUID()}`;
    const missing = `s-${randomUUID()}`;
    await client.appendToStream(streamId, [anEvent(), anEvent()], { expectedRevision: NO_STREAM });
    const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);
    const stale = await failure(client.appendToStream(streamId, [anEvent()], { expectedRevision: 0n }));
    expect(stale).toBeInstanceOf(WrongExpectedVersionError);
    expect(stale).toMatchObject({ actualVersion: 1n, expectedVersion: 0n });
    expect(await failure(client.appendToStream(streamId, [anEvent()], { expectedRevision: NO_STREAM }))).toMatchObject({ actualVersion: 1n });
    expect(await failure(client.appendToStream(missing, [anEvent()], { expectedRevision: STREAM_EXISTS }))).toMatchObject({ actualVersion: 'no_stream' });
    expect(await failure(client.appendToStream(missing, [anEvent()], { expectedRevision: 3n }))).toMatchObject({ actualVersion: 'no_stream' });
    expect((await client.appendToStream(streamId, [anEvent()], { expectedRevision: 'any' })).nextExpectedRevision).toBe(2n);
  });

  it('deduplicates a re-append of the same ids at an exact revision, and refuses a partly new one', async () => {
    const streamId = `s-${randomUUID()}`;
    const events = [anEvent(), anEvent()];
    await client.appendToStream(streamId, events, { expectedRevision: NO_STREAM });
    await client.appendToStream(streamId, [anEvent()], { expectedRevision: 1n });
    const retried = await client.appendToStream(streamId, events, { expectedRevision: NO_STREAM });
    expect(retried.nextExpectedRevision).toBe(1n);
    expect(await collect(client.readStream(streamId))).toHaveLength(3);
    await expect(client.appendToStream(streamId, [events[0]!, anEvent()], { expectedRevision: NO_STREAM })).rejects.toBeInstanceOf(
      WrongExpectedVersionError,
    );
  });

  it('reads a stream both ways with counts, and tells a missing one', async () => {
    const streamId = `s-${randomUUID()}`;
    await client.appendToStream(streamId, [anEvent(), anEvent(), anEvent()], { expectedRevision: NO_STREAM });
    const backwards = await collect(client.readStream(streamId, { fromRevision: END, direction: BACKWARDS, maxCount: 2 }));
    expect(backwards.map((resolved) => resolved.event!.revision)).toEqual([2n, 1n]);
    const forwards = await collect(client.readStream(streamId, { fromRevision: 1n, maxCount: 5 }));
    expect(forwards.map((resolved) => resolved.event!.revision)).toEqual([1n, 2n]);
    await expect(collect(client.readStream(`s-${randomUUID()}`))).rejects.toMatchObject({ type: 'stream-not-found' });
  });

  it('reads $all with (commit, prepare) positions, system events included, forwards inclusive and backwards exclusive', async () => {
    const all = await collect(client.readAll({ fromPosition: START }));
    expect(all.some((resolved) => resolved.event!.type.startsWith('$'))).toBe(true);
    const positions = all.map((resolved) => resolved.event!.position!);
    for (let index = 1; index < positions.length; index++) expect(positions[index]!.commit).toBeGreaterThan(positions[index - 1]!.commit);
    const middle = positions[2]!;
    const [first] = await collect(client.readAll({ fromPosition: middle, maxCount: 1 }));
    expect(first!.event!.position).toEqual(middle);
    const [before] = await collect(client.readAll({ fromPosition: middle, maxCount: 1, direction: BACKWARDS }));
    expect(before!.event!.position).toEqual(positions[1]);
  });

  it('subscribes to $all with a filter: catch-up, checkpoints, caughtUp, live, resuming after the position given', async () => {
    const checkpoints: Position[] = [];
    const head = (await collect(client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 1 })))[0]!.event!.position!;
    const subscription = client.subscribeToAll({
      fromPosition: START,
      filter: excludeSystemEvents({ checkpointInterval: 1, maxSearchWindow: 2, checkpointReached: (_, position) => void checkpoints.push(position) }),
    });
    const seen: string[] = [];
    let caughtUp = false;
    subscription.on('caughtUp', () => (caughtUp = true));
    subscription.on('data', (resolved) => seen.push(resolved.event!.type));
    await vi.waitFor(() => expect(caughtUp).toBe(true));
    expect(seen.every((type) => !type.startsWith('$'))).toBe(true);
    expect(checkpoints.length).toBeGreaterThan(0);
    model.writeSystemEvent();
    const streamId = `s-${randomUUID()}`;
    await client.appendToStream(streamId, [anEvent()], { expectedRevision: NO_STREAM });
    await vi.waitFor(() => expect(seen.length).toBeGreaterThan(0));
    await subscription.unsubscribe();

    const resumed = client.subscribeToAll({ fromPosition: head });
    const after: Position[] = [];
    resumed.on('data', (resolved) => after.push(resolved.event!.position!));
    await vi.waitFor(() => expect(after.length).toBeGreaterThanOrEqual(2));
    await resumed.unsubscribe();
    expect(after.every((position) => position.commit > head.commit)).toBe(true);
  });
});

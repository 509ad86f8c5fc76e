/**
 * The rows held for a SQLite store's live subscriptions: handed out only as a run without a gap
 * from just after a position, only as inserted by the commit, and only the last ones.
 */
import { describe, expect, it } from 'vitest';
import { recentCommits } from './recentCommits';
import type { StreamWrite, WrittenEntry } from './sqliteAppends';

const aWrite = (streamId: string, count: number): StreamWrite => ({
  streamId,
  expectedRevision: 'any',
  events: Array.from({ length: count }, (_, index) => ({
    id: `${streamId}-${index}`,
    type: 'SomethingHappened',
    data: `{"index":${index}}`,
    metadata: '{}',
    recordedAt: '2026-12-07T09:00:00.000Z',
  })),
});

/** The result of inserting `count` events at positions from `first`, the stream's last revision `last`. */
const inserted = (first: number, count: number, last = count - 1): WrittenEntry => ({
  nextExpectedRevision: last,
  position: String(first + count - 1),
  firstInserted: first,
});

const positionsOf = (rows: { global_position: number }[] | undefined) => rows?.map((row) => row.global_position);

describe('the rows held of the last commits', () => {
  it("hands out a commit's rows from just after a position, numbered as the writer numbered them, at most maxCount", () => {
    const recent = recentCommits(100);
    recent.committed([aWrite('lead-1', 2), aWrite('lead-2', 3)], [inserted(11, 2, 5), inserted(13, 3)]);

    expect(recent.after(10, 100)).toEqual([
      { global_position: 11, event_id: 'lead-1-0', stream_id: 'lead-1', stream_revision: 4, event_type: 'SomethingHappened', data: '{"index":0}', metadata: '{}' },
      { global_position: 12, event_id: 'lead-1-1', stream_id: 'lead-1', stream_revision: 5, event_type: 'SomethingHappened', data: '{"index":1}', metadata: '{}' },
      { global_position: 13, event_id: 'lead-2-0', stream_id: 'lead-2', stream_revision: 0, event_type: 'SomethingHappened', data: '{"index":0}', metadata: '{}' },
      { global_position: 14, event_id: 'lead-2-1', stream_id: 'lead-2', stream_revision: 1, event_type: 'SomethingHappened', data: '{"index":1}', metadata: '{}' },
      { global_position: 15, event_id: 'lead-2-2', stream_id: 'lead-2', stream_revision: 2, event_type: 'SomethingHappened', data: '{"index":2}', metadata: '{}' },
    ]);
    expect(positionsOf(recent.after(12, 2))).toEqual([13, 14]);
  });

  it('hands out nothing when the row just after the position is not held: before the first, or past the last', () => {
    const recent = recentCommits(100);
    recent.committed([aWrite('lead-1', 2)], [inserted(11, 2)]);
    expect(recent.after(9, 100)).toBeUndefined();
    expect(recent.after(12, 100)).toBeUndefined();
  });

  it('stops a run where a position is missing: the row another process wrote is read from the file', () => {
    const recent = recentCommits(100);
    recent.committed([aWrite('lead-1', 2)], [inserted(11, 2)]);
    recent.committed([aWrite('lead-2', 1)], [inserted(14, 1)]);
    expect(positionsOf(recent.after(10, 100))).toEqual([11, 12]);
    expect(recent.after(12, 100)).toBeUndefined();
    expect(positionsOf(recent.after(13, 100))).toEqual([14]);
  });

  it('holds nothing of an entry answered as a retry, nor of one whose positions are not one run', () => {
    const recent = recentCommits(100);
    recent.committed(
      [aWrite('retried', 2), aWrite('scattered', 2)],
      [{ nextExpectedRevision: 1, position: '2' }, { nextExpectedRevision: 1, position: '9', firstInserted: 5 }],
    );
    expect(recent.after(0, 100)).toBeUndefined();
    expect(recent.after(4, 100)).toBeUndefined();
  });

  it('lets go of the oldest rows past its capacity, and holds nothing of an append larger than it', () => {
    const recent = recentCommits(4);
    for (let position = 1; position <= 10; position++) recent.committed([aWrite(`lead-${position}`, 1)], [inserted(position, 1)]);
    expect(recent.after(5, 100)).toBeUndefined();
    expect(positionsOf(recent.after(6, 100))).toEqual([7, 8, 9, 10]);

    recent.committed([aWrite('seed-a', 3), aWrite('seed-b', 2)], [inserted(11, 3), inserted(14, 2)]);
    expect(recent.after(10, 100)).toBeUndefined();
    expect(positionsOf(recent.after(6, 100))).toEqual([7, 8, 9, 10]);
  });
});

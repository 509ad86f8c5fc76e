/**
 * Every event of the log as NDJSON, one JSON object per line, for auditors' own tools. The log
 * is read page by page and written with backpressure, so an export of any size runs in little
 * memory.
 */
import { once } from 'node:events';
import type { EventStore, GlobalPosition } from '../core/eventStore';

export interface ExportOptions {
  /** Exclusive: only the events after this position (the last one of a previous export). */
  after?: GlobalPosition;
  pageSize?: number;
  onProgress?(events: number): void;
}

export interface ExportResult {
  events: number;
  /** Where a later export continues from; undefined when nothing was exported. */
  lastPosition?: GlobalPosition;
}

const DEFAULT_PAGE_SIZE = 1000;

export const exportEvents = async (
  store: EventStore,
  out: NodeJS.WritableStream,
  { after, pageSize = DEFAULT_PAGE_SIZE, onProgress }: ExportOptions = {},
): Promise<ExportResult> => {
  let position = after;
  let events = 0;
  for (;;) {
    const page = await store.readAll({ fromPosition: position, maxCount: pageSize });
    if (page.length === 0) break;
    const lines = page.map(({ id, streamId, revision, position, type, data, metadata }) =>
      JSON.stringify({ id, streamId, revision, position, type, data, metadata }),
    );
    if (!out.write(`${lines.join('\n')}\n`)) await once(out, 'drain');
    events += page.length;
    position = page[page.length - 1]!.position;
    onProgress?.(events);
    if (page.length < pageSize) break;
  }
  return { events, lastPosition: events > 0 ? position : undefined };
};

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_STREAM, type RecordedEvent } from '../core/eventStore';
import { createInMemoryEventStore } from '../eventStores/inMemory';
import { openEventLog } from '../composition/eventLog';
import { openTestApplication, seed, type TestApplication } from '../../test/support/seededApplication';
import { exportEvents } from './exportEvents';

const run = promisify(execFile);
const EXPORT_CLI = path.join(__dirname, '..', 'cli', 'export.ts');

/** What an export line must hold for an event: everything the log keeps about it. */
const asLine = ({ id, streamId, revision, position, type, data, metadata }: RecordedEvent) => ({
  id,
  streamId,
  revision,
  position,
  type,
  data,
  metadata,
});

const parseLines = (text: string) => text.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown);

/** A slow reader: it takes one chunk at a time, on a later tick, so the export has to wait. */
const slowReader = () => {
  let text = '';
  const stream = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      setImmediate(done);
    },
  });
  return { stream, text: () => text };
};

describe('exportEvents', () => {
  it('writes every event as one JSON line, in log order, page by page, waiting for a slow reader', async () => {
    const store = createInMemoryEventStore();
    for (const [streamId, count] of [['lead-1', 3], ['account-1', 2], ['lead-2', 2]] as const) {
      const events = Array.from({ length: count }, (_, index) => ({
        id: `${streamId}-${index}`,
        type: 'Happened',
        data: { streamId, index, note: 'línea "uno"\nlínea dos' },
        metadata: {
          actor: 'alice',
          recordedAt: '2025-03-01T10:00:00.000Z',
          occurredAt: '2025-02-28T10:00:00.000Z',
          correlationId: 'c',
          causationId: 'k',
          schemaVersion: 1,
        },
      }));
      await store.appendToStream(streamId, events, { expectedRevision: NO_STREAM });
    }
    const logged = await store.readAll();

    const reader = slowReader();
    const result = await exportEvents(store, reader.stream, { pageSize: 3 });
    expect(result).toEqual({ events: 7, lastPosition: logged[6]!.position });
    expect(parseLines(reader.text())).toEqual(logged.map(asLine));

    const rest = slowReader();
    expect(await exportEvents(store, rest.stream, { after: logged[3]!.position, pageSize: 3 })).toEqual({
      events: 3,
      lastPosition: logged[6]!.position,
    });
    expect(parseLines(rest.text())).toEqual(logged.slice(4).map(asLine));

    const nothing = slowReader();
    expect(await exportEvents(store, nothing.stream, { after: logged[6]!.position })).toEqual({ events: 0 });
    expect(nothing.text()).toBe('');
  });
});

describe('npm run export', () => {
  let opened: TestApplication;
  let logged: RecordedEvent[];
  beforeAll(async () => {
    opened = await openTestApplication();
    await seed(opened.app, { leads: 15, seed: 11 });
    await opened.close();
    // The export opens personal data, as the server reads it (README, "Personal data").
    const store = await openEventLog(opened.config);
    logged = await store.readAll();
    await store.close();
  }, 60_000);
  afterAll(async () => {
    await opened.dispose();
  });

  const exportCli = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', EXPORT_CLI, '--data-dir', opened.dataDir, ...args], {
      env: { ...process.env, CRM_DATA_DIR: '', CRM_EVENT_STORE: '', CRM_READ_STORE: '' },
      maxBuffer: 64 * 1024 * 1024,
    });

  it('writes the whole log to a file, and says where a later export continues', async () => {
    const out = path.join(opened.dataDir, 'events.ndjson');
    const { stdout, stderr } = await exportCli('--out', out);
    expect(stdout).toBe('');
    expect(parseLines(readFileSync(out, 'utf8'))).toEqual(logged.map(asLine));
    expect(stderr).toContain(`${logged.length.toLocaleString('en-US')} events, last position ${logged.at(-1)!.position}`);
  }, 60_000);

  it('writes to stdout, from after a given position', async () => {
    const from = logged[99]!.position;
    const { stdout } = await exportCli('--from', from);
    expect(parseLines(stdout)).toEqual(logged.slice(100).map(asLine));
  }, 60_000);
});

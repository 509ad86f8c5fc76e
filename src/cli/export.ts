/**
 * `npm run export [-- --out events.ndjson] [--from <position>]`: writes every event of the
 * configured store as NDJSON (id, streamId, revision, position, type, data, metadata) to the
 * file, or to stdout; progress and the last position go to stderr. Personal data is written
 * opened (the export is for analysts and auditors with access to the data); an erased person's
 * fields are null, named by `erasedPersonalData`.
 */
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { openEventLog } from '../composition/eventLog';
import { ProgressLine, configFor, formatCount, parseOptions, runCli } from './common';
import { exportEvents } from '../useCases/exportEvents';

const USAGE = `usage: npm run export -- [--out events.ndjson] [--from <position>] [--data-dir ./data]

  --out       the file to write (default: stdout)
  --from      export only the events after this position: give the last position of a
              previous export to continue it (default: from the first event)
  --data-dir  the SQLite store's directory (default: $CRM_DATA_DIR, else ./data); other
              stores come from the same environment variables as the server's`;

runCli(USAGE, async () => {
  const args = parseOptions(process.argv.slice(2), { out: { type: 'string' }, from: { type: 'string' } });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const store = await openEventLog(configFor(args['data-dir']));
  const out = args.out === undefined ? process.stdout : createWriteStream(args.out);
  // A reader that stops early (`| head`) is not a failure of the export.
  let readerGone = false;
  out.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    readerGone = true;
  });
  try {
    const progress = new ProgressLine();
    const result = await exportEvents(store, out, {
      after: args.from,
      onProgress: (events) => progress.update(`export: ${formatCount(events)} events`),
    });
    progress.done(
      `export: ${formatCount(result.events)} events` +
        (result.lastPosition === undefined ? '' : `, last position ${result.lastPosition} (continue with --from ${result.lastPosition})`),
    );
    if (out !== process.stdout) {
      out.end();
      await finished(out);
    }
  } catch (error) {
    if (!readerGone) throw error;
  } finally {
    await store.close();
  }
});

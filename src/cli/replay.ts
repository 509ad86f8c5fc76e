/**
 * `npm run replay [-- --projection NAME]`: rebuilds one projection, or all of them, from the
 * first event, with a progress line on stderr. Stop the server first: it runs the projections
 * on the same read database.
 */
import { openReadDatabase, readModelProjections } from '../composition/application';
import { openEventLog } from '../composition/eventLog';
import { ProgressLine, UsageError, configFor, formatCount, parseOptions, perSecond, runCli } from './common';
import { replayProjections, UnknownProjectionError } from '../../projections/tools/replay';
import { readWholeLog } from '../../projections/tools/storeViews';
import { REBUILD_PAGE_SIZE } from '../../projections/runner';
import { stageOnAnotherThread } from '../composition/stagingThread';

const names = readModelProjections().map((projection) => projection.name);
const USAGE = `usage: npm run replay -- [--projection NAME] [--data-dir ./data]

  --projection  the one projection to rebuild (default: all): ${names.join(', ')}
  --data-dir    the SQLite stores' directory (default: $CRM_DATA_DIR, else ./data); other
                stores come from the same environment variables as the server's

Stop the server first: it runs the projections on the same read database.`;

runCli(USAGE, async () => {
  const args = parseOptions(process.argv.slice(2), { projection: { type: 'string' } });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = configFor(args['data-dir']);
  const store = await openEventLog(config);
  const db = await openReadDatabase(config.readStore);
  // Started now, the thread that opens personal data is ready before the rebuild's first page.
  void store.warmOpener();
  try {
    // The bound a rebuild is measured against, in the same run: the same log read in the same
    // pages and parsed, personal data left sealed, nothing applied.
    const raw = await readWholeLog(store.sealed, REBUILD_PAGE_SIZE);
    process.stderr.write(
      `replay: read and parsed the log in ${(raw.elapsedMs / 1000).toFixed(2)} s, ${perSecond(raw.events, raw.elapsedMs)} events/s (the bound)\n`,
    );
    const progress = new ProgressLine();
    const result = await replayProjections({
      store,
      db,
      projections: readModelProjections(),
      only: args.projection,
      total: raw.events,
      // Staged on this thread and another: the machine's second core.
      stagingThread: stageOnAnotherThread(config),
      logger: { error: (message: string) => progress.note(`replay: ${message}`) },
      onProgress: ({ done, total, elapsedMs }) => progress.update(`replay: ${bar(done, total)} ${formatCount(done)}/${formatCount(total)} events, ${perSecond(done, elapsedMs)} events/s`),
    }).catch((error: unknown) => {
      throw error instanceof UnknownProjectionError ? new UsageError(error.message) : error;
    });
    progress.done(
      `replay: ${result.projections.join(', ')} rebuilt from ${formatCount(result.events)} events in ` +
        `${(result.elapsedMs / 1000).toFixed(1)} s (${perSecond(result.events, result.elapsedMs)} events/s)`,
    );
    const rebuildRate = result.events / Math.max(result.elapsedMs, 1);
    const rawRate = raw.events / Math.max(raw.elapsedMs, 1);
    process.stderr.write(`replay: rebuild / read-and-parse rate: ${(rebuildRate / rawRate).toFixed(3)}× (goal: 0.5×)\n`);
  } finally {
    await db.close();
    await store.close();
  }
});

const bar = (done: number, total: number, width = 24): string => {
  const filled = total === 0 ? width : Math.min(width, Math.round((done / total) * width));
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
};

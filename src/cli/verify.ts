/**
 * `npm run verify`: rebuilds every projection into a scratch database and reports, table by
 * table, any difference from the live read models. Exit code 0 when identical, 1 otherwise.
 */
import { readModelProjections } from '../composition/application';
import { openEventLog } from '../composition/eventLog';
import { stageOnAnotherThread } from '../composition/stagingThread';
import { ProgressLine, configFor, formatCount, parseOptions, runCli, wholeNumber } from './common';
import { openScratchSpace } from '../../projections/tools/scratch';
import { verifyReadModels, type TableComparison } from '../../projections/tools/verify';

const USAGE = `usage: npm run verify -- [--keys 10] [--data-dir ./data]

  --keys      how many differing keys to list per table and kind (default 10)
  --data-dir  the SQLite stores' directory (default: $CRM_DATA_DIR, else ./data); other
              stores come from the same environment variables as the server's`;

runCli(USAGE, async () => {
  const args = parseOptions(process.argv.slice(2), { keys: { type: 'string' } });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = configFor(args['data-dir']);
  const store = await openEventLog(config);
  const scratch = await openScratchSpace(config.readStore);
  try {
    const progress = new ProgressLine();
    const report = await verifyReadModels({
      store,
      scratch,
      projections: readModelProjections(),
      maxKeys: wholeNumber('keys', args.keys, 10),
      // Staged on this thread and another: the machine's second core.
      stagingThread: stageOnAnotherThread(config),
      logger: { error: (message: string) => progress.note(`verify: ${message}`) },
      onProgress: ({ done, total }) => progress.update(`verify: rebuilding ${formatCount(done)}/${formatCount(total)} events`),
    });
    progress.done('verify: rebuilt every projection into a scratch database');
    for (const table of report.tables) process.stdout.write(`${describe(table)}\n`);
    for (const problem of report.problems) process.stdout.write(`PROBLEM ${problem}\n`);
    process.stdout.write(report.ok ? 'verify: the live read models equal a rebuild from the log\n' : 'verify: DIFFERENCES FOUND\n');
    return report.ok ? 0 : 1;
  } finally {
    await scratch.close();
    await store.close();
  }
});

const describe = (table: TableComparison): string => {
  const counts = `${table.table}: ${formatCount(table.liveRows)} live rows, ${formatCount(table.rebuiltRows)} rebuilt`;
  if (table.problem) return `DIFF ${counts}: ${table.problem}`;
  const kinds = (['differing', 'unexpected', 'missing'] as const).filter((kind) => table[kind].count > 0);
  if (kinds.length === 0) return `ok   ${counts}`;
  const details = kinds.map((kind) => {
    const { count, keys } = table[kind];
    const more = count > keys.length ? `, and ${formatCount(count - keys.length)} more` : '';
    return `\n       ${formatCount(count)} ${kind}: ${keys.join('; ')}${more}`;
  });
  return `DIFF ${counts}${details.join('')}`;
};

/**
 * `npm run export-subject -- <lead or contact id> [--out subject.json]`: the answer to a data
 * subject's access request, as JSON: every personal value held about the person, opened, with
 * the event, time and actor it came from, and any erasure. The same as the `personalData` query.
 */
import { writeFileSync } from 'node:fs';
import { openReadDatabase } from '../composition/application';
import { openEventLog } from '../composition/eventLog';
import { personalDataReport } from '../useCases/personalData/accessReport';
import { configFor, parseOptionsWithSubject, runCli, UsageError } from './common';

const USAGE = `usage: npm run export-subject -- <lead or contact id> [--out subject.json] [--data-dir ./data]

  --out       the file to write (default: stdout)
  --data-dir  the SQLite store's directory (default: $CRM_DATA_DIR, else ./data); other
              stores come from the same environment variables as the server's`;

runCli(USAGE, async () => {
  const { values: args, subject } = parseOptionsWithSubject(process.argv.slice(2), { out: { type: 'string' } });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!subject) throw new UsageError('name the person: a lead id or a contact id');
  const config = configFor(args['data-dir']);
  const store = await openEventLog(config);
  const readDb = await openReadDatabase(config.readStore);
  try {
    const report = await personalDataReport({ store, sealedStore: store.sealed, readDb }, subject);
    const json = `${JSON.stringify(report, null, 2)}\n`;
    if (args.out === undefined) process.stdout.write(json);
    else writeFileSync(args.out, json, { mode: 0o600 });
    process.stderr.write(
      `export-subject: ${report.values.length} values from ${report.leadIds.length} lead(s), ${report.contactIds.length} contact(s), ` +
        `${report.opportunityIds.length} opportunit${report.opportunityIds.length === 1 ? 'y' : 'ies'}` +
        (report.erasures.length > 0 ? `; erased ${report.erasures.at(-1)!.erasedAt}` : '') +
        '\n',
    );
  } finally {
    await readDb.close();
    await store.close();
  }
});

/**
 * `npm run retention -- --disqualified-older-than 24m [--dry-run]`: erases the people whose leads
 * were disqualified, or left without a fact, for longer than that, and never converted; each
 * erasure records the rule and the dates. `--dry-run` lists them and changes nothing. The server
 * can run the same daily (CRM_RETENTION). Stop a server that uses the same SQLite file first.
 */
import { randomUUID } from 'node:crypto';
import { openApplication } from '../composition/application';
import { parseRetentionAge, runRetention } from '../useCases/personalData/retention';
import { configFor, parseOptions, runCli, UsageError } from './common';

const USAGE = `usage: npm run retention -- --disqualified-older-than <age> [--dry-run] [--actor <name>] [--data-dir ./data]

  --disqualified-older-than  erase people whose leads were disqualified, or left untouched, for
                             longer than this (24m, 2y, 730d) and never converted
  --dry-run                  list who would be erased, and why; change nothing
  --actor                    who the erasures are recorded as (default: retention)`;

runCli(USAGE, async () => {
  const args = parseOptions(process.argv.slice(2), {
    'disqualified-older-than': { type: 'string' },
    'dry-run': { type: 'boolean' },
    actor: { type: 'string' },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!args['disqualified-older-than']) throw new UsageError('--disqualified-older-than is required (e.g. 24m)');
  let olderThan;
  try {
    olderThan = parseRetentionAge(args['disqualified-older-than']);
  } catch (error) {
    throw new UsageError(`--disqualified-older-than: ${(error as Error).message}`);
  }
  const app = await openApplication(configFor(args['data-dir']));
  try {
    // Judge by read models that include every fact recorded so far.
    const head = await app.store.headPosition();
    if (head !== undefined) await app.readModels.waitForPosition(head, 300_000);
    const run = await runRetention(
      { store: app.store, sealedStore: app.personalData.sealedStore, readDb: app.readDb },
      {
        olderThan,
        now: new Date(),
        dryRun: Boolean(args['dry-run']),
        context: { actor: args.actor ?? 'retention', now: new Date(), correlationId: randomUUID() },
      },
    );
    for (const entry of run.planned) {
      process.stdout.write(`${args['dry-run'] ? 'would erase' : 'erased'}\t${entry.leadId}\t${entry.status}\tsince ${entry.since}\t${entry.leadIds.length} lead(s)\n`);
    }
    for (const entry of run.kept) process.stdout.write(`kept\t${entry.leadId}\t${entry.why}\n`);
    const last = run.erased.map((result) => result.position).filter((position) => position !== undefined).at(-1);
    // The keys are destroyed as the read models pass the erasures: wait for it before exiting.
    if (last !== undefined) {
      await app.readModels.waitForPosition(last, 300_000);
      await app.personalData.afterErasure();
    }
    process.stderr.write(
      `retention: ${run.planned.length} ${args['dry-run'] ? 'would be erased' : 'erased'}, ${run.kept.length} kept, cut-off ${run.cutoff}\n`,
    );
  } finally {
    await app.close();
  }
});

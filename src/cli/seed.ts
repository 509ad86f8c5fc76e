/**
 * `npm run seed -- --leads N [--seed 42] [--data-dir ./data]`: fills the configured stores with
 * generated history decided by the application's own deciders, in bulk on an empty store
 * (see src/seeding/generator.ts).
 */
import 'reflect-metadata';
import { openApplication } from '../composition/application';
import { ProgressLine, UsageError, configFor, formatCount, parseOptions, perSecond, runCli, wholeNumber } from './common';
import { DEFAULT_SEED_START, generateCrmHistory } from '../seeding/generator';
import { stageOnAnotherThread } from '../composition/stagingThread';

const USAGE = `usage: npm run seed -- --leads N [--seed 42] [--start 2025-01-06] [--months 12] [--path bulk|commands] [--data-dir ./data]

  --leads     how many leads to generate (required)
  --seed      the same seed always generates the same events, ids included (default 42)
  --start     when the first lead may arrive (default ${DEFAULT_SEED_START.toISOString().slice(0, 10)})
  --months    over how many months leads arrive (default 12)
  --path      bulk: decide in memory, append a batch at a time (the default on an empty store);
              commands: one command at a time through the command handlers, as the API (the
              default on a store that holds events already, so a run again writes nothing)
  --data-dir  the SQLite stores' directory (default: $CRM_DATA_DIR, else ./data); the other
              stores come from the same environment variables as the server's`;

/** Generous: on a big history the read models need a while to take it all in. */
const CATCH_UP_TIMEOUT_MS = 30 * 60_000;

runCli(USAGE, async () => {
  const args = parseOptions(process.argv.slice(2), {
    leads: { type: 'string' },
    seed: { type: 'string' },
    start: { type: 'string' },
    months: { type: 'string' },
    path: { type: 'string' },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const leads = wholeNumber('leads', args.leads);
  const seed = wholeNumber('seed', args.seed, 42);
  const months = wholeNumber('months', args.months, 12);
  const start = args.start === undefined ? undefined : new Date(args.start);
  if (leads < 1) throw new UsageError('--leads must be 1 or more');
  if (months < 1) throw new UsageError('--months must be 1 or more');
  if (start && Number.isNaN(start.getTime())) throw new UsageError(`--start is not a date: ${args.start}`);
  const path = args.path;
  if (path !== undefined && path !== 'bulk' && path !== 'commands') throw new UsageError('--path must be bulk or commands');

  const config = configFor(args['data-dir']);
  // A bulk load that can simply be run again: no fsync per command (the file is synced when
  // the store closes). The server itself keeps FULL.
  if (config.eventStore.kind === 'sqlite') config.eventStore = { ...config.eventStore, synchronous: 'NORMAL' };
  const app = await openApplication(config);
  try {
    const progress = new ProgressLine();
    const began = Date.now();
    let writtenAt: number | undefined;
    const summary = await generateCrmHistory(app, {
      leads,
      seed,
      start,
      months,
      path,
      // The read models are staged on a second thread while the first generates (bulk path).
      stageAlongside: stageOnAnotherThread(config),
      onWritten: () => (writtenAt = Date.now()),
      onProgress: (p) =>
        progress.update(
          `seed: ${formatCount(p.leadsStarted)}/${formatCount(p.leads)} leads, ${formatCount(p.commands)} commands, ` +
            `${formatCount(p.events)} events (${perSecond(p.events, Date.now() - began)}/s), at ${p.simulatedTime.toISOString().slice(0, 10)}`,
        ),
    });
    const generated = Date.now() - began;
    // On the bulk path the read models staged alongside are copied in before the generator returns:
    // the time after the last write is theirs.
    const written = (writtenAt ?? Date.now()) - began;
    progress.done(
      `seed: ${formatCount(summary.leads)} leads, ${formatCount(summary.commands)} commands, ${formatCount(summary.events)} events ` +
        `in ${(generated / 1000).toFixed(1)} s (${perSecond(summary.events, generated)} events/s, ${summary.path} path): ` +
        `written in ${(written / 1000).toFixed(1)} s (${perSecond(summary.events, written)} events/s)`,
    );
    if (summary.lastPosition !== undefined) {
      process.stderr.write('seed: waiting for the read models to take it in...\n');
      await app.readModels.waitForPosition(summary.lastPosition, CATCH_UP_TIMEOUT_MS);
    }
    const total = Date.now() - began;
    process.stderr.write(`seed: read models caught up ${((total - written) / 1000).toFixed(1)} s after the last write\n`);
    const { b2b, b2c } = summary.conversions;
    process.stdout.write(
      `${JSON.stringify({
        seed,
        leads: summary.leads,
        commands: summary.commands,
        events: summary.events,
        conversions: { b2b, b2c },
        simulatedFrom: summary.firstAt.toISOString(),
        simulatedTo: summary.lastAt.toISOString(),
        path: summary.path,
        eventsPerSecond: Math.round((summary.events * 1000) / Math.max(1, generated)),
        generateSeconds: +(generated / 1000).toFixed(1),
        writeSeconds: +(written / 1000).toFixed(1),
        catchUpSeconds: +((total - written) / 1000).toFixed(1),
        totalSeconds: +(total / 1000).toFixed(1),
        store: app.store.name,
      })}\n`,
    );
  } finally {
    await app.close();
  }
});

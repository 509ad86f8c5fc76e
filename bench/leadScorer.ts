/**
 * `npx tsx bench/leadScorer.ts [leads]` (2,000 by default): how fast the lead scorer follows a
 * log it has not seen, on SQLite: a generated history (the data generator, which leaves it
 * unscored) is followed from the start twice. The first pass scores every open lead (what an
 * existing deployment's first start on this version does, or a job would); the second is a redo
 * from no checkpoint (a new read store, after `npm run migrate-events`), which finds every score
 * recorded and writes nothing. Figures: events of the log followed per second, events written (scores, and the rules published once).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openApplication } from '../src/composition/application';
import { loadConfig } from '../src/composition/config';
import { generateCrmHistory } from '../src/seeding/generator';

const leads = Number(process.argv[2] ?? 2000);

const main = async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'crm-bench-scorer-'));
  const config = loadConfig({ CRM_JWT_SECRET: 'bench-secret-that-is-long-enough-for-hs256!' }, { dataDir });
  const app = await openApplication(config);
  try {
    const summary = await generateCrmHistory(app, { leads, seed: 7 });
    if (summary.lastPosition !== undefined) await app.readModels.waitForPosition(summary.lastPosition, 600_000);
    const logEvents = (await app.store.readAll()).length;
    const scorer = app.leadScorer()!;
    const followFromTheStart = async () => {
      await scorer.stop();
      await app.readDb.run(`DELETE FROM process_checkpoints WHERE name = 'lead-scorer'`);
      const before = (await app.store.readAll()).length;
      const started = process.hrtime.bigint();
      await scorer.start();
      for (;;) {
        const head = await app.store.headPosition();
        await scorer.whenProcessed(head);
        if ((await app.store.headPosition()) === head) break;
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const written = (await app.store.readAll()).length - before;
      return { seconds: Number(seconds.toFixed(2)), eventsPerSecond: Math.round(before / seconds), eventsWritten: written };
    };
    const firstPass = await followFromTheStart();
    const redo = await followFromTheStart();
    console.log(JSON.stringify({ leads, logEvents, firstPass, redo }, null, 2));
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

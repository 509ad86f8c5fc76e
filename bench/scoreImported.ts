/**
 * What an import leaves to the server: opens the application on CRM_DATA_DIR (or the store the
 * environment names) as the server does, and times its lead scorer catching up with the log (the
 * leads `npm run import` wrote, which the import does not score). Prints one JSON line:
 * { seconds: from open to caught up }.
 * bench/import.ts runs it after each import of a tree that has it.
 */
import 'reflect-metadata';
import { openApplication } from '../src/composition/application';
import { configFor } from '../src/cli/common';

async function main() {
  const started = performance.now();
  const app = await openApplication(configFor(undefined));
  try {
    const head = await app.store.headPosition();
    // The projections (and with them the scorer) start once this process leads them.
    let scorer = app.leadScorer();
    while (scorer === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      scorer = app.leadScorer();
    }
    await scorer.whenProcessed(head);
    const seconds = (performance.now() - started) / 1000;
    console.log(JSON.stringify({ seconds }));
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

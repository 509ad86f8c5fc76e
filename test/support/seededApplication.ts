/**
 * An application on a fresh SQLite data directory, filled by the seeded generator through its
 * real command handlers, with the read models caught up: data for tests of anything that reads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openApplication, type Application } from '../../src/composition/application';
import { loadConfig, type CrmConfig } from '../../src/composition/config';
import { generateCrmHistory, type GenerateOptions, type GeneratedSummary } from '../../src/seeding/generator';
import { TEST_SECRET } from './testServer';

export interface TestApplication {
  app: Application;
  config: CrmConfig;
  dataDir: string;
  /** Closes the application; the data directory stays until `dispose`. */
  close(): Promise<void>;
  dispose(): Promise<void>;
}

/** `env` may name other stores (CRM_READ_STORE=postgres...); SQLite files go in `dataDir`. */
export const openTestApplication = async (
  options: { dataDir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<TestApplication> => {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'crm-seeded-'));
  const config = loadConfig({ CRM_JWT_SECRET: TEST_SECRET, ...options.env }, { dataDir });
  // Generated data can be generated again: no fsync per command (as `npm run seed`).
  if (config.eventStore.kind === 'sqlite') config.eventStore = { ...config.eventStore, synchronous: 'NORMAL' };
  const app = await openApplication(config);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
  };
  return {
    app,
    config,
    dataDir,
    close,
    async dispose() {
      await close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
};

/** Generates into `app` and waits until every read model has taken it in. */
export const seed = async (app: Application, options: GenerateOptions): Promise<GeneratedSummary> => {
  const summary = await generateCrmHistory(app, options);
  if (summary.lastPosition !== undefined) await app.readModels.waitForPosition(summary.lastPosition, 120_000);
  return summary;
};

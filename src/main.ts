/** `npm start`: serves the API with the stores the environment names (see `src/config.ts`). */
import 'reflect-metadata';
import path from 'node:path';
import { ConfigurationError, loadConfig, type CrmConfig } from './composition/config';
import { limitHeapGrowth } from './composition/heapGrowth';
import { mintToken } from './identity/jwt';
import { parseTimeSpan } from './identity/tokenVerifier';
import { createLogger } from './observability/logger';
import { serve } from './server';

const main = async (): Promise<void> => {
  // Before anything is loaded into the heap: issue 11 gives the API 300 MB at a million events.
  limitHeapGrowth();
  const config = loadConfig(process.env);
  // JSON lines in production, readable lines otherwise; LOG_LEVEL (silent under NODE_ENV=test).
  const logger = createLogger({ level: config.logLevel, json: config.production });
  const server = await serve(config, { logger });
  logger.info({ component: 'server', url: server.url }, `CRM GraphQL API ready at ${server.url} (${describeStores(config)})`);

  const { secret, secretSource, issuer, audience, maxTokenAge } = config.identity;
  if (secret && secretSource !== 'env') {
    // 12 h, or less when CRM_JWT_MAX_AGE allows less (the server would refuse a longer token)
    const expiresIn = maxTokenAge !== undefined && parseTimeSpan(maxTokenAge) < 12 * 3600 ? maxTokenAge : '12h';
    const token = await mintToken({ sub: 'developer', roles: ['admin'], expiresIn, issuer, audience }, secret);
    logger.warn(
      { component: 'server' },
      `No CRM_JWT_SECRET set: using the development secret in ${path.join(config.dataDir, 'jwt-secret')}`,
    );
    // A token never goes into the log. Outside production it is shown on the terminal, as before;
    // in production (a development secret there is a mistake) mint one with `npm run token`.
    if (!config.production) {
      process.stdout.write(`Development token (sub "developer", role admin, ${expiresIn}):\n  Authorization: Bearer ${token}\n`);
    }
  }

  const shutdown = (signal: string) => {
    logger.info({ component: 'server', signal }, `${signal} received: finishing requests in flight, then stopping`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ component: 'server', err: error }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
};

const describeStores = (config: CrmConfig): string => {
  const { eventStore, readStore } = config;
  const where = (kind: string) => (kind === 'sqlite' ? `SQLite in ${config.dataDir}` : kind === 'postgres' ? 'PostgreSQL' : 'EventStoreDB');
  return `events in ${where(eventStore.kind)}, read models in ${where(readStore.kind)}`;
};

main().catch((error: unknown) => {
  // Before the configuration is read there is no logger: a start that fails prints one plain line
  // on stderr (the tests and operators rely on it). One line an operator can act on: the variable to fix, or what failed; never a stack trace.
  const message = error instanceof Error ? error.message : String(error);
  const line = error instanceof ConfigurationError ? message : `Cannot start: ${message}`;
  console.error(line.replace(/\s*\n\s*/g, ' '));
  process.exit(1);
});

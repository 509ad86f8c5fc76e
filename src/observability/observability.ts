/**
 * What the server wires in: the logger, the metrics, the application with its event store
 * observed and its read models logging through the logger, and the start-up summary.
 */
import type { DestinationStream } from 'pino';
import type { ReadModels } from '../../projections/leadership/readModels';
import type { EventStore } from '../core/eventStore';
import type { LogLevel } from './logLevels';
import { consoleFor, createLogger, type Logger } from './logger';
import { CrmMetrics, type ReportCacheStats } from './metrics';
import { observeEventStore } from './observedEventStore';
import { projectionStatus } from './projectionLag';

export interface ObservabilityOptions {
  /** A logger made by the caller (main logs before the server starts); else one is made. */
  logger?: Logger;
  /** Where the server's log lines go when it makes its logger (tests read them back). */
  logDestination?: DestinationStream;
}

export interface Observed<T> {
  logger: Logger;
  metrics: CrmMetrics;
  /** The application, its event store counted and timed. */
  app: T;
}

/** The part of the key store the server reports on (structural: this layer is below it). */
interface ReportsMissingKeys {
  personalData?: { keyStore: { onMissingKeys: (keyIds: string[]) => void } };
}

/** The part of the report cache the server reports on. */
interface ReportsCacheStats {
  reports?: { stats(): ReportCacheStats };
}

export const observeApplication = <T extends { store: EventStore; readModels: ReadModels } & ReportsMissingKeys & ReportsCacheStats>(
  opened: T,
  settings: { logLevel: LogLevel; production: boolean },
  options: ObservabilityOptions = {},
): Observed<T> => {
  const logger =
    options.logger ?? createLogger({ level: settings.logLevel, json: settings.production, destination: options.logDestination });
  const metrics = new CrmMetrics(projectionStatus(opened.store, opened.readModels), opened.reports);
  opened.readModels.useLogger(consoleFor(logger, 'projections'));
  if (opened.personalData) {
    opened.personalData.keyStore.onMissingKeys = (keyIds) => {
      metrics.personalDataKeysMissing.inc(keyIds.length);
      logger.error(
        { component: 'personal-data', keyIds },
        'events name personal data keys this database does not hold: their personal data reads as erased. ' +
          'Was the read database restored from an older backup, or the events copied without their keys (npm run migrate-events)?',
      );
    };
  }
  return { logger, metrics, app: { ...opened, store: observeEventStore(opened.store, metrics) } };
};

/** What the server logs once it listens: where things are, never a secret or a URL with credentials. */
export interface StartupSummary {
  url: string;
  port: number;
  host: string;
  eventStore: string;
  readStore: string;
  pgSchema?: string;
  dataDir?: string;
  production: boolean;
  logLevel: LogLevel;
  auth: { hs256: boolean; jwks?: string; issuer?: string; audience?: string; maxTokenAge?: string; rolesClaim: string };
  scoringRulesVersion: string;
}

export const logStartup = async (logger: Logger, summary: StartupSummary, readModels: ReadModels): Promise<void> => {
  logger.info({ component: 'server', ...summary }, 'configuration');
  const health = await readModels.health().catch(() => undefined);
  logger.info(
    {
      component: 'projections',
      role: readModels.role,
      retried: readModels.retriedProjections.map(({ name, since, attempts }) => ({ name, since, attempts })),
      setAside: health?.failedProjections.map(({ name, eventType, position, attempts }) => ({ name, eventType, position, attempts })) ?? [],
    },
    readModels.role === 'leader' ? 'this instance runs the projections' : 'this instance follows the projection leader',
  );
};

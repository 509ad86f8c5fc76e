/**
 * The Prometheus metrics of one server (prom-client, a registry of its own so that several
 * servers in one process, as in the tests, do not share series). Every label has a bounded set
 * of values: operation names come from the schema's root fields (anything else is `other`),
 * result codes from our error codes, stores and projections from the configuration.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** How far one projection is behind the log, measured when /metrics is read. */
export interface ProjectionLag {
  name: string;
  /** Events stored after its checkpoint (counted up to `PROJECTION_LAG_CAP`). */
  events: number;
  /** Age of the oldest event it has not processed (recordedAt), 0 when it has them all. */
  seconds: number;
  setAside: boolean;
}

/** What `Application.reports` has answered since the start (projections/reportCache.ts). */
export interface ReportCacheStats {
  hits: number;
  misses: number;
  entries: number;
}

export interface ProjectionStatus {
  leader: boolean;
  projections: ProjectionLag[];
}

const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const APPEND_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** /metrics answers even when the stores are slow: the projection gauges keep their last values. */
const PROJECTION_REFRESH_LIMIT_MS = 2000;

export class CrmMetrics {
  readonly registry = new Registry();

  readonly requestDuration = new Histogram({
    name: 'crm_graphql_request_duration_seconds',
    help: 'GraphQL requests over HTTP, by root field (operation), operation type and result code (OK or the first error code)',
    labelNames: ['operation', 'type', 'result'] as const,
    buckets: REQUEST_BUCKETS,
    registers: [this.registry],
  });

  readonly appends = new Counter({
    name: 'crm_event_store_appends_total',
    help: 'Appends to the event store by requests, by store and result (ok, conflict, error)',
    labelNames: ['store', 'result'] as const,
    registers: [this.registry],
  });

  readonly appendedEvents = new Counter({
    name: 'crm_event_store_appended_events_total',
    help: 'Events written by successful appends, by store',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });

  readonly personalDataKeysMissing = new Counter({
    name: 'crm_personal_data_keys_missing_total',
    help: 'Personal data keys named by events but not held by the key store (their data reads as erased); should stay 0',
    registers: [this.registry],
  });

  readonly appendDuration = new Histogram({
    name: 'crm_event_store_append_duration_seconds',
    help: 'Latency of appends to the event store, by store',
    labelNames: ['store'] as const,
    buckets: APPEND_BUCKETS,
    registers: [this.registry],
  });

  readonly projectionLagEvents = new Gauge({
    name: 'crm_projection_lag_events',
    help: 'Events in the log that the projection has not processed yet (counted up to 10000)',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });

  readonly projectionLagSeconds = new Gauge({
    name: 'crm_projection_lag_seconds',
    help: 'Age of the oldest event the projection has not processed yet (0 when caught up)',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });

  readonly projectionSetAside = new Gauge({
    name: 'crm_projection_set_aside',
    help: '1 while the projection is set aside after failing on an event, else 0',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });

  readonly projectionLeader = new Gauge({
    name: 'crm_projection_leader',
    help: '1 when this instance runs the projections and the conversion completer, 0 when it follows',
    registers: [this.registry],
  });

  readonly httpConnections = new Gauge({
    name: 'crm_http_connections_open',
    help: 'HTTP connections open on this instance',
    registers: [this.registry],
  });

  readonly subscriptions = new Gauge({
    name: 'crm_graphql_subscriptions_active',
    help: 'GraphQL subscriptions open on this instance (always 0: the schema has no subscriptions yet)',
    registers: [this.registry],
  });

  /** Read when /metrics is read: counted by the cache itself, not on each answer here. */
  private readonly reportCache?: { stats(): ReportCacheStats };

  readonly reportAnswers = new Counter({
    name: 'crm_report_answers_total',
    help: 'KPI sections, pipeline reports and the counts of searches (and on SQLite of every list) answered since the start: from memory (hit), or computed (miss; always on an instance that follows on PostgreSQL)',
    labelNames: ['result'] as const,
    registers: [this.registry],
    collect: () => {
      const stats = this.reportCache?.stats();
      if (stats === undefined) return;
      this.reportAnswers.reset();
      this.reportAnswers.inc({ result: 'hit' }, stats.hits);
      this.reportAnswers.inc({ result: 'miss' }, stats.misses);
    },
  });

  readonly reportCacheEntries = new Gauge({
    name: 'crm_report_cache_entries',
    help: 'Reports held in memory to be answered again while nothing they read changes',
    registers: [this.registry],
    collect: () => {
      const stats = this.reportCache?.stats();
      if (stats !== undefined) this.reportCacheEntries.set(stats.entries);
    },
  });

  /** Read when /metrics is read, as the report cache. */
  private reportAnswerSource?: { sentAgain(): number };

  readonly reportAnswersSentAgain = new Counter({
    name: 'crm_graphql_answers_sent_again_total',
    help: 'Whole answers to KPI and pipeline queries sent again from memory, every report in them unchanged (not built again)',
    registers: [this.registry],
    collect: () => {
      if (this.reportAnswerSource === undefined) return;
      this.reportAnswersSentAgain.reset();
      this.reportAnswersSentAgain.inc(this.reportAnswerSource.sentAgain());
    },
  });

  /** Counts the answers sent again by the server's report answers (src/graphql/reportAnswers.ts). */
  followReportAnswers(source: { sentAgain(): number }): void {
    this.reportAnswerSource = source;
  }

  constructor(
    private readonly projectionStatus?: () => Promise<ProjectionStatus>,
    reportCache?: { stats(): ReportCacheStats },
  ) {
    this.reportCache = reportCache;
    collectDefaultMetrics({ register: this.registry });
    this.subscriptions.set(0);
  }

  /** The Prometheus text exposition, with the projection gauges measured now. */
  async render(): Promise<string> {
    await this.refreshProjections();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private async refreshProjections(): Promise<void> {
    if (!this.projectionStatus) return;
    let timer: NodeJS.Timeout | undefined;
    const status = await Promise.race([
      this.projectionStatus().catch(() => undefined),
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), PROJECTION_REFRESH_LIMIT_MS))),
    ]);
    clearTimeout(timer);
    if (!status) return;
    this.projectionLeader.set(status.leader ? 1 : 0);
    for (const { name, events, seconds, setAside } of status.projections) {
      this.projectionLagEvents.set({ projection: name }, events);
      this.projectionLagSeconds.set({ projection: name }, seconds);
      this.projectionSetAside.set({ projection: name }, setAside ? 1 : 0);
    }
  }
}

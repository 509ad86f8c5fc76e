/**
 * HTTP: `POST /graphql` (GraphQL over HTTP), `GET /healthz` (the process is alive) and
 * `GET /readyz` (projections have caught up since start, so reads are not stale).
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type ErrorRequestHandler } from 'express';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import { type DocumentNode, GraphQLError } from 'graphql';
import { openApplication, type Application } from './composition/application';
import { scheduleRetention } from './composition/retentionSchedule';
import { checkConnections, loadConfig, type CrmConfig } from './composition/config';
import type { GraphQLContext } from './graphql/shared/context';
import { formatErrorFor, unavailableAnswers } from './graphql/shared/errors';
import { GRAPHQL_PATH, graphqlHttpHandler, parseByteSize, type GraphqlHttpHandler } from './graphql/httpHandler';
import { requestGuards } from './graphql/shared/requestGuards';
import { dashboardRouter } from './dashboard/router';
import { explorerRouter, redirectBrowsersToExplorer } from './explorer/router';
import { EXPLORER_PATH } from './explorer/page';
import { buildCrmSchema } from './graphql/schema';
import { reportAnswers } from './graphql/reportAnswers';
import { compiledExecution } from './graphql/compiledExecution';
import { attachSubscriptions, type SubscriptionServer } from './graphql/subscriptions/server';
import { AuthenticationError, createTokenVerifier, type TokenVerifier } from './identity/tokenVerifier';
import { logStartup, observeApplication, type ObservabilityOptions } from './observability/observability';
import { observeRequests } from './observability/requests';

export interface ServerOptions {
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  dataDir: string;
  /** The rest of the configuration, stores included (see `loadConfig`). */
  env?: NodeJS.ProcessEnv;
  /** Where log lines go (tests capture them); LOG_LEVEL in `env` says which. */
  logDestination?: ObservabilityOptions['logDestination'];
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:4000/graphql */
  url: string;
  port: number;
  app: Application;
  /** GraphQL subscriptions over WebSocket on the same path. */
  subscriptions: SubscriptionServer;
  /** Operations compiled since the start (compiledExecution.ts). */
  compiledOperations(): number;
  close(): Promise<void>;
}

/**
 * How much of parsed and validated queries Apollo keeps, in its own measure (the JSON length of
 * each query's syntax tree). Its default, 30 MiB of that, held about 100 MiB more of heap when every
 * request came with a query text of its own (dates written into the text, not sent as variables):
 * the API peaked at 377 MiB resident against 261–265 MiB with one text (issue 11 allows 300). A tree
 * holds its tokens, several times the JSON's size. 2 MiB keeps some 140 queries the size of every
 * KPI section together (14 KiB in that measure) or thousands of small ones: more distinct queries
 * than an application asks; one beyond them is parsed and validated again, as at first.
 */
const PARSED_QUERIES_SIZE = 2 * 1024 * 1024;

const CORRELATION_HEADER = 'x-correlation-id';
const CORRELATION_ID = /^[\w.:-]{1,100}$/;

export const startServer = (options: ServerOptions): Promise<RunningServer> =>
  serve(loadConfig(options.env ?? process.env, { port: options.port, host: options.host, dataDir: options.dataDir }), {
    logDestination: options.logDestination,
  });

export const serve = async (config: CrmConfig, observability: ObservabilityOptions = {}): Promise<RunningServer> => {
  await checkConnections(config);
  const tokens = createTokenVerifier(config.identity);
  // Logs and metrics: the event store's appends are counted and timed (see src/observability/).
  const { logger, metrics, app } = observeApplication(await openApplication(config), config, observability);

  const expressApp = express();
  expressApp.disable('x-powered-by');
  // POST /graphql (every GraphQL client's request) skips express; express serves the rest.
  let graphqlHttp: GraphqlHttpHandler | undefined;
  const httpServer = http.createServer((req, res) => {
    if (graphqlHttp?.accepts(req)) graphqlHttp.handle(req, res);
    else expressApp(req, res);
  });
  httpServer.on('connection', (socket) => {
    metrics.httpConnections.inc();
    socket.once('close', () => metrics.httpConnections.dec());
  });

  const schema = await buildCrmSchema();
  const armor = protectionFor(config);
  const requests = observeRequests(schema, logger, metrics);
  const answers = reportAnswers(schema, app.reports);
  metrics.followReportAnswers(answers);
  const execution = compiledExecution(schema, answers);
  const apollo = new ApolloServer<GraphQLContext>({
    // Our schema, run by queries compiled once asked again (see compiledExecution.ts).
    gateway: execution,
    documentStore: new InMemoryLRUCache<DocumentNode>({ maxSize: PARSED_QUERIES_SIZE }),
    formatError: formatErrorFor(schema),
    // An answer sent again is written to JSON once (reportAnswers.ts).
    stringifyResult: answers.stringifyResult,
    validationRules: armor.validationRules,
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: !config.production,
    plugins: [
      ...armor.plugins,
      requestGuards(),
      requests.plugin,
      unavailableAnswers,
      ApolloServerPluginDrainHttpServer({ httpServer }),
      // No Apollo Sandbox landing page (it loads from Apollo's CDN); browsers get /explorer instead.
      ApolloServerPluginLandingPageDisabled(),
      // The schema gives no cache hints, so no answer is cacheable and no cache-control header is
      // ever computed from them; the plugin Apollo adds by default would still hook every field.
      ApolloServerPluginCacheControlDisabled(),
    ],
  });
  await apollo.start();

  // The analyst dashboard: static files only; it reads through /graphql with the user's token.
  expressApp.use('/dashboard', dashboardRouter());

  // Prometheus text format: requests, appends, projection lag, process (README: Logs and metrics).
  expressApp.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.render());
  });

  expressApp.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // 503 until the read models have caught up, and while a projection is set aside (`degraded`,
  // on every instance: followers read it from the shared checkpoint table).
  expressApp.get('/readyz', async (_req, res) => {
    const health = await app.readModels.health();
    res.status(health.ready ? 200 : 503).json({
      status: health.status,
      store: app.store.name,
      projections: health.role,
      // /readyz answers anyone: in production the error text (which may name ids) stays in the
      // `failure` column of projection_checkpoints for operators.
      failedProjections: health.failedProjections.map(({ name, eventId, eventType, streamId, position, error, since, attempts }) => ({
        name,
        eventId,
        eventType,
        streamId,
        position,
        ...(config.production ? {} : { error }),
        since,
        attempts,
      })),
      rebuildingProjections: health.rebuildingProjections,
    });
  });

  // The API explorer (GraphiQL, served from node_modules, no CDN): development by default,
  // production only with CRM_EXPLORER=on. A browser opening /graphql is sent there.
  if (config.explorer) {
    expressApp.use(EXPLORER_PATH, explorerRouter({ graphqlPath: '/graphql', schema }));
    expressApp.get('/graphql', redirectBrowsersToExplorer(EXPLORER_PATH));
  }

  const contextFor = async (req: IncomingMessage, res: ServerResponse): Promise<GraphQLContext> => {
    const sentCorrelationId = req.headers[CORRELATION_HEADER];
    const correlationId =
      typeof sentCorrelationId === 'string' && CORRELATION_ID.test(sentCorrelationId) ? sentCorrelationId : randomUUID();
    requests.note(res, { correlationId });
    const context: GraphQLContext = {
      app,
      identity: await authenticate(req.headers.authorization, tokens),
      correlationId,
      requestTime: new Date(),
    };
    requests.attach(res, context, { actor: context.identity?.actor });
    return context;
  };
  graphqlHttp = graphqlHttpHandler({
    apollo,
    maxBodyBytes: parseByteSize(config.maxBody),
    context: contextFor,
    begin: requests.begin,
    onInternalError: (error) => logger.error({ component: 'graphql', err: error }, 'GraphQL request failed in Apollo'),
  });
  expressApp.use(
    GRAPHQL_PATH,
    requests.middleware,
    express.json({ limit: config.maxBody }),
    expressMiddleware(apollo, { context: ({ req, res }) => contextFor(req, res) }),
  );
  expressApp.use(refuseUnreadableBodies);

  const subscriptions = await attachSubscriptions(httpServer, { app, schema, verify: (header) => tokens.verify(header), maxQueued: config.subscriptionQueue, maxLagMs: config.subscriptionMaxLagMs });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, resolve);
  });
  const { port } = httpServer.address() as AddressInfo;
  const shownHost = config.host === '0.0.0.0' ? 'localhost' : config.host;
  await logStartup(logger, startupSummary(config, `http://${shownHost}:${port}/graphql`, port), app.readModels);
  const retention = config.retention ? scheduleRetention(app, config.retention, logger) : undefined;

  return {
    url: `http://${shownHost}:${port}/graphql`,
    port,
    app,
    subscriptions,
    compiledOperations: () => execution.compiledOperations(),
    async close() {
      await retention?.stop();
      await subscriptions.close();
      await apollo.stop();
      await app.close();
    },
  };
};

/** Where things are, for the start-up log line; no secret, no URL (they may carry credentials). */
const startupSummary = (config: CrmConfig, url: string, port: number) => {
  const { identity } = config;
  const pgSchema = [config.eventStore, config.readStore].find((store) => store.kind === 'postgres');
  return {
    url,
    port,
    host: config.host,
    eventStore: config.eventStore.kind,
    readStore: config.readStore.kind,
    ...(pgSchema?.kind === 'postgres' ? { pgSchema: pgSchema.schema } : {}),
    ...([config.eventStore, config.readStore].some((store) => store.kind === 'sqlite') ? { dataDir: config.dataDir } : {}),
    production: config.production,
    logLevel: config.logLevel,
    auth: {
      hs256: identity.secret !== undefined,
      ...(identity.keySet ? { jwks: identity.keySet.url.origin } : {}),
      ...(identity.issuer ? { issuer: identity.issuer } : {}),
      ...(identity.audience ? { audience: identity.audience } : {}),
      ...(identity.maxTokenAge ? { maxTokenAge: identity.maxTokenAge } : {}),
      rolesClaim: identity.rolesClaim ?? 'roles',
    },
    scoringRulesVersion: config.scoringRules.version,
  };
};

const authenticate = async (header: string | undefined, tokens: TokenVerifier) => {
  try {
    return await tokens.verify(header);
  } catch (error) {
    if (!(error instanceof AuthenticationError)) throw error;
    throw new GraphQLError(`Invalid bearer token: ${error.message}`, {
      extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
    });
  }
};

/**
 * GraphQL Armor bounds what a document may ask before it runs: its size in tokens, its depth,
 * its aliases and directives; in production it also stops "Did you mean ..." suggestions from
 * describing the schema to whoever asks. The cost of what remains is `requestGuards`' to judge.
 */
const protectionFor = (config: CrmConfig) =>
  new ApolloArmor({
    maxTokens: { n: 5_000 },
    maxDepth: { n: 12, ignoreIntrospection: true },
    maxAliases: { n: 30 },
    maxDirectives: { n: 20 },
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: config.production },
  }).protect();

/** Malformed JSON and oversized bodies get a GraphQL-shaped answer, not an HTML error page. */
const refuseUnreadableBodies: ErrorRequestHandler = (error, _req, res, next) => {
  const status = typeof error?.status === 'number' ? error.status : 500;
  if (error?.type === 'entity.too.large') {
    res.status(413).json({ errors: [{ message: 'Request body too large', extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
  } else if (error?.type === 'entity.parse.failed') {
    res.status(400).json({ errors: [{ message: 'Malformed JSON in request body', extensions: { code: 'BAD_REQUEST' } }] });
  } else if (status >= 400 && status < 500) {
    res.status(status).json({ errors: [{ message: String(error.message), extensions: { code: 'BAD_REQUEST' } }] });
  } else {
    next(error);
  }
};

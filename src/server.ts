/**
 * HTTP: `POST /graphql` (GraphQL over HTTP), `GET /healthz` (the process is alive) and
 * `GET /readyz` (projections have caught up since start, so reads are not stale).
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type ErrorRequestHandler } from 'express';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError } from 'graphql';
import { openApplication, type Application } from './composition/application';
import { checkConnections, loadConfig, type CrmConfig } from './composition/config';
import type { GraphQLContext } from './graphql/shared/context';
import { formatErrorFor } from './graphql/shared/errors';
import { requestGuards } from './graphql/shared/requestGuards';
import { buildCrmSchema } from './graphql/schema';
import { AuthenticationError, createTokenVerifier, type TokenVerifier } from './identity/tokenVerifier';

export interface ServerOptions {
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  dataDir: string;
  /** The rest of the configuration, stores included (see `loadConfig`). */
  env?: NodeJS.ProcessEnv;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:4000/graphql */
  url: string;
  port: number;
  app: Application;
  close(): Promise<void>;
}

const CORRELATION_HEADER = 'x-correlation-id';
const CORRELATION_ID = /^[\w.:-]{1,100}$/;

export const startServer = (options: ServerOptions): Promise<RunningServer> =>
  serve(loadConfig(options.env ?? process.env, { port: options.port, host: options.host, dataDir: options.dataDir }));

export const serve = async (config: CrmConfig): Promise<RunningServer> => {
  await checkConnections(config);
  const tokens = createTokenVerifier(config.identity);
  const app = await openApplication(config);

  const expressApp = express();
  expressApp.disable('x-powered-by');
  const httpServer = http.createServer(expressApp);

  const schema = await buildCrmSchema();
  const armor = protectionFor(config);
  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    formatError: formatErrorFor(schema),
    validationRules: armor.validationRules,
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: !config.production,
    plugins: [...armor.plugins, requestGuards(), ApolloServerPluginDrainHttpServer({ httpServer })],
  });
  await apollo.start();

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
    });
  });

  expressApp.use(
    '/graphql',
    express.json({ limit: config.maxBody }),
    expressMiddleware(apollo, {
      context: async ({ req }): Promise<GraphQLContext> => {
        const sentCorrelationId = req.header(CORRELATION_HEADER);
        return {
          app,
          identity: await authenticate(req.header('authorization'), tokens),
          correlationId:
            sentCorrelationId && CORRELATION_ID.test(sentCorrelationId) ? sentCorrelationId : randomUUID(),
          requestTime: new Date(),
        };
      },
    }),
  );
  expressApp.use(refuseUnreadableBodies);

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, resolve);
  });
  const { port } = httpServer.address() as AddressInfo;
  const shownHost = config.host === '0.0.0.0' ? 'localhost' : config.host;

  return {
    url: `http://${shownHost}:${port}/graphql`,
    port,
    app,
    async close() {
      await apollo.stop();
      await app.close();
    },
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

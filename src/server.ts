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
import { GraphQLError } from 'graphql';
import { openApplication, type Application } from './composition/application';
import { checkConnections, loadConfig, type CrmConfig } from './composition/config';
import type { GraphQLContext } from './graphql/shared/context';
import { formatErrorFor } from './graphql/shared/errors';
import { buildCrmSchema } from './graphql/schema';
import { AuthenticationError, verifyBearer } from './identity/jwt';

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
  const { secret } = config.jwtSecret;
  const app = await openApplication(config);

  const expressApp = express();
  expressApp.disable('x-powered-by');
  const httpServer = http.createServer(expressApp);

  const schema = await buildCrmSchema();
  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    formatError: formatErrorFor(schema),
    includeStacktraceInErrorResponses: !config.production,
    plugins: [ApolloServerPluginDrainHttpServer({ httpServer })],
  });
  await apollo.start();

  expressApp.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  expressApp.get('/readyz', (_req, res) => {
    const ready = app.readModels.isReady();
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'catching up',
      store: app.store.name,
      projections: app.readModels.role,
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
          identity: await authenticate(req.header('authorization'), secret),
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

const authenticate = async (header: string | undefined, secret: Uint8Array) => {
  try {
    return await verifyBearer(header, secret);
  } catch (error) {
    if (!(error instanceof AuthenticationError)) throw error;
    throw new GraphQLError(`Invalid bearer token: ${error.message}`, {
      extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
    });
  }
};

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

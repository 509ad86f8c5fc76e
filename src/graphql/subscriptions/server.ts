/**
 * GraphQL subscriptions over WebSocket on the same port and path as queries (`/graphql`), with
 * the graphql-ws protocol that Apollo Client, urql and Relay speak. A connection is
 * authenticated by the token in its init payload (`{ authorization: "Bearer ..." }`, or
 * `{ token }`), checked again every half minute: an expired token ends the connection (4401).
 * Each subscription passes the same checks as a query before it starts (input, roles, cost).
 */
import type http from 'node:http';
import { getOperationAST, GraphQLError, parse, validate, type GraphQLSchema } from 'graphql';
import type { useServer as UseServer } from 'graphql-ws/dist/use/ws';
import { WebSocketServer } from 'ws';
import type { Application } from '../../composition/application';
import { newId } from '../../core/ids';
import type { Identity } from '../../identity/jwt';
import type { GraphQLContext } from '../shared/context';
import { formatErrorFor } from '../shared/errors';
import { guardOperation } from '../shared/requestGuards';
import { ChangeFeed } from './changeFeed';

// graphql-ws publishes its ws adapter as a subpath export (`graphql-ws/use/ws`), which Node
// resolves but our "node" module resolution cannot see: the types come from the file itself.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { useServer } = require('graphql-ws/use/ws') as { useServer: typeof UseServer };

/** graphql-ws's own code for an unauthorised connection; the reason says why. */
export const TOKEN_REFUSED = 4401;
const TOKEN_RECHECK_MS = 30_000;
/** setTimeout's longest delay (about 24.8 days); a token living longer is left to the checks. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A subscription message is a query and its variables: small. */
const MAX_MESSAGE_BYTES = 64 * 1024;

export interface SubscriptionServer {
  readonly feed: ChangeFeed;
  close(): Promise<void>;
}

interface ConnectionState {
  identity?: Identity;
  header?: string;
  recheck?: NodeJS.Timeout;
  expiry?: NodeJS.Timeout;
}

/** When a verified bearer token expires (ms since the epoch), from its `exp` claim; never without one. */
const expiryOf = (header: string | undefined): number => {
  const payload = header?.replace(/^Bearer\s+/i, '').split('.')[1];
  if (!payload) return Number.POSITIVE_INFINITY;
  try {
    const { exp } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof exp === 'number' ? exp * 1000 : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
};

const authorizationOf = (params: Record<string, unknown> | undefined): string | undefined => {
  const header = params?.authorization ?? params?.Authorization;
  if (typeof header === 'string') return header;
  return typeof params?.token === 'string' ? `Bearer ${params.token}` : undefined;
};

export const attachSubscriptions = async (
  server: http.Server,
  options: {
    app: Application;
    schema: GraphQLSchema;
    /** The identity of an Authorization header; throws when the token cannot be trusted. */
    verify(header: string | undefined): Promise<Identity | undefined>;
    /** Notifications a subscriber may have waiting, and for how long, before it is dropped as too slow. */
    maxQueued: number;
    maxLagMs: number;
    path?: string;
  },
): Promise<SubscriptionServer> => {
  const { app, schema, verify } = options;
  const feed = new ChangeFeed(app);
  const wss = new WebSocketServer({ server, path: options.path ?? '/graphql', maxPayload: MAX_MESSAGE_BYTES });
  const states = new WeakMap<object, ConnectionState>();
  const formatError = formatErrorFor(schema);

  const disposable = useServer<Record<string, unknown> | undefined>(
    {
      schema,
      onConnect: async (ctx) => {
        const header = authorizationOf(ctx.connectionParams);
        const identity = await verify(header).catch(() => undefined);
        if (!identity) return false; // graphql-ws closes with 4403 Forbidden
        const state: ConnectionState = { identity, header };
        const refuse = () => ctx.extra.socket.close(TOKEN_REFUSED, 'The token has expired or is no longer valid: connect again with a new one');
        // A verifier that throws (expired, too old, keys rotated) and one that finds no identity both end it.
        state.recheck = setInterval(() => {
          verify(header).then((still) => still ?? refuse(), refuse);
        }, TOKEN_RECHECK_MS);
        state.recheck.unref();
        // The connection ends when the token expires, not at the next check after it.
        const expiresIn = expiryOf(header) - Date.now();
        if (expiresIn < MAX_TIMER_MS) {
          state.expiry = setTimeout(refuse, Math.max(0, expiresIn));
          state.expiry.unref();
        }
        states.set(ctx.extra.socket, state);
        return true;
      },
      onClose: (ctx) => {
        clearInterval(states.get(ctx.extra.socket)?.recheck);
        clearTimeout(states.get(ctx.extra.socket)?.expiry);
      },
      onSubscribe: (ctx, _id, payload) => {
        const state = states.get(ctx.extra.socket);
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error as GraphQLError];
        }
        const problems = validate(schema, document);
        if (problems.length > 0) return problems;
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) return [new GraphQLError('No operation of that name in the document')];
        const variables = payload.variables ?? undefined;
        try {
          guardOperation(schema, document, operation, { variables, operationName: payload.operationName }, state?.identity);
        } catch (error) {
          return [error as GraphQLError];
        }
        const contextValue: GraphQLContext = {
          app,
          identity: state?.identity,
          correlationId: newId(),
          requestTime: new Date(),
          live: { feed, maxQueued: options.maxQueued, maxLagMs: options.maxLagMs, close: (code, reason) => ctx.extra.socket.close(code, reason) },
        };
        return { schema, document, variableValues: variables, operationName: payload.operationName, contextValue };
      },
      onError: (_ctx, _id, _payload, errors) => errors.map((error) => formatError(error.toJSON(), error)),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map((error) => formatError(error.toJSON(), error)) } : undefined,
    },
    wss,
  );

  return {
    feed,
    async close() {
      for (const socket of wss.clients) {
        socket.close(1001, 'The server is shutting down');
        // A client that stopped reading never completes the closing handshake.
        setTimeout(() => socket.terminate(), 1_000).unref();
      }
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await feed.close();
    },
  };
};

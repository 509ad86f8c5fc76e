/**
 * One log line and one histogram observation per GraphQL request over HTTP. `begin` (or the
 * express middleware, for the requests express serves) times the request from its arrival to
 * its last byte (so refusals before GraphQL runs, such as a bad token or malformed JSON, count
 * too); an Apollo plugin tells it which operation ran and the code of the first error the client got.
 *
 * Logged: root field (operation), operation type, the client's operation name, actor (the
 * token's sub), correlation id, duration, result code, HTTP status. Never the token, the
 * variables, the document or the answer.
 */
import type { ServerResponse } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestHandler } from 'express';
import { getOperationAST, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { childForFlatLines, type Logger } from './logger';
import type { CrmMetrics } from './metrics';

interface RequestRecord {
  started: bigint;
  correlationId?: string;
  actor?: string;
  operation?: string;
  operationType?: string;
  operationName?: string;
  result?: string;
}

/**
 * The record rides on the GraphQL context under a symbol: Apollo copies the context object once
 * per operation (own enumerable properties, symbols included), so it cannot be looked up by identity.
 */
const CONTEXT_RECORD = Symbol('crm request record');
/** Our error codes look like this; anything else is reported as OTHER_ERROR. */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,49}$/;
const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,99}$/;

export interface RequestObserver {
  /** Called as a request to /graphql arrives, before its body is read. */
  begin(res: ServerResponse): void;
  /** `begin` as express middleware: mount first on /graphql. */
  middleware: RequestHandler;
  plugin: ApolloServerPlugin<object>;
  /** Called by the context function with the request's correlation id, before authenticating. */
  note(res: ServerResponse, fields: { correlationId: string }): void;
  /** Called by the context function: ties the GraphQL context to its request's record. */
  attach(res: ServerResponse, context: object, fields: { actor?: string }): void;
}

export const observeRequests = (schema: GraphQLSchema, logger: Logger, metrics: CrmMetrics): RequestObserver => {
  const rootFields = new Set(
    [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((type) =>
      type ? Object.keys(type.getFields()) : [],
    ),
  );
  const recordOf = (context: object) => (context as { [CONTEXT_RECORD]?: RequestRecord })[CONTEXT_RECORD];
  // Its line's fields are strings and numbers made here (see `finish`).
  const log = childForFlatLines(logger, { component: 'graphql' });
  const records = new WeakMap<ServerResponse, RequestRecord>();

  const operationOf = (operation: OperationDefinitionNode | null | undefined) => {
    const first = operation?.selectionSet.selections.find((selection) => selection.kind === 'Field' && selection.name.value !== '__typename');
    const name = first?.kind === 'Field' ? first.name.value : undefined;
    return name !== undefined && rootFields.has(name) ? name : 'other';
  };

  const finish = (record: RequestRecord, res: ServerResponse) => {
    const durationMs = Number(process.hrtime.bigint() - record.started) / 1e6;
    const result = !res.writableFinished ? 'CLIENT_CLOSED' : record.result ?? resultOfStatus(res.statusCode);
    const operation = record.operation ?? 'other';
    const type = record.operationType ?? 'unknown';
    metrics.requestDuration.observe({ operation, type, result }, durationMs / 1000);
    log.info(
      {
        operation,
        operationType: type,
        ...(record.operationName ? { operationName: record.operationName } : {}),
        actor: record.actor ?? null,
        correlationId: record.correlationId ?? null,
        durationMs: Math.round(durationMs * 10) / 10,
        result,
        status: res.statusCode,
      },
      'graphql request',
    );
  };

  const begin = (res: ServerResponse) => {
    const record: RequestRecord = { started: process.hrtime.bigint() };
    records.set(res, record);
    res.once('close', () => finish(record, res));
  };

  return {
    begin,
    middleware(_req, res, next) {
      begin(res);
      next();
    },
    note(res, { correlationId }) {
      const record = records.get(res);
      if (record) record.correlationId = correlationId;
    },
    attach(res, context, { actor }) {
      const record = records.get(res);
      if (!record) return;
      record.actor = actor;
      Object.defineProperty(context, CONTEXT_RECORD, { value: record, enumerable: true });
    },
    plugin: {
      async requestDidStart({ contextValue }) {
        const record = recordOf(contextValue);
        if (!record) return;
        return {
          async willSendResponse({ response, operation, document, request }) {
            const definition = operation ?? (document ? safeOperation(document, request.operationName) : undefined);
            record.operation = operationOf(definition);
            record.operationType = definition?.operation ?? 'unknown';
            const name = definition?.name?.value;
            if (name && GRAPHQL_NAME.test(name)) record.operationName = name;
            const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
            const code = errors?.[0]?.extensions?.code;
            record.result = !errors?.length ? 'OK' : typeof code === 'string' && ERROR_CODE.test(code) ? code : 'OTHER_ERROR';
          },
        };
      },
    },
  };
};

const safeOperation = (document: DocumentNode, operationName: string | undefined) => {
  try {
    return getOperationAST(document, operationName);
  } catch {
    return undefined;
  }
};

/** For requests refused before GraphQL ran (the context threw, or the body was unreadable). */
const resultOfStatus = (status: number): string => {
  if (status < 400) return 'OK';
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 413) return 'PAYLOAD_TOO_LARGE';
  if (status < 500) return 'BAD_REQUEST';
  return 'INTERNAL_SERVER_ERROR';
};

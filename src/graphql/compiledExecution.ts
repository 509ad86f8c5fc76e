/**
 * Queries and mutations run as JavaScript compiled from their document (graphql-jit), not walked
 * by graphql-js's interpreter on every request.
 *
 * Why: a dashboard's KPI answer is thousands of fields, and graphql-js pays for each of them on
 * every ask (its argument values, its resolve info, the checks of its type), even when the report
 * itself comes from memory. Under 20 readers and 10 writers that was a quarter of the API's main
 * thread, the thread every request waits on (issue 11, goal 4). graphql-jit is the executor
 * Mercurius uses: it runs the same resolvers, with the same arguments and errors, from a function
 * compiled for each document. It reads a field inline only where the field has no resolver of its
 * own, which is why schema.ts takes type-graphql's away from plain fields (`readPlainFieldsDirectly`):
 * compiled, with every field still behind a resolver, answered 1.2 times the reads; with both, 1.5
 * to 1.85 times (npm run bench:readers, interleaved rounds).
 *
 * Apollo takes another executor only as a "gateway": this one serves our own schema, unchanged.
 * Parsing, validation (GraphQL Armor's rules with it), the request guards, error formatting and
 * serialisation stay Apollo's. A document is compiled the second time it is asked: what a client
 * asks over and over runs compiled, and a query asked once is not worth the compilation (5 to 17 ms
 * for every KPI section). A long document is never compiled (`COMPILED_SOURCE_LIMIT`). Compiled
 * documents live as long as Apollo keeps the parsed document (its LRU of parsed queries), which is
 * their key.
 *
 * Subscriptions never come here (they are served over WebSocket); an operation of that type sent
 * over HTTP is executed by graphql-js, as before.
 */
import {
  execute,
  getNamedType,
  getVariableValues,
  GraphQLError,
  isInputObjectType,
  isNonNullType,
  printSchema,
  typeFromAST,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLInputObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { GatewayExecutor, GatewayInterface, GatewaySchemaLoadOrUpdateCallback } from '@apollo/server-gateway-interface';
import type { AskedReport } from '../../projections/reportCache';
import type { ReportAnswers } from './reportAnswers';
import type { GraphQLContext } from './shared/context';

/** How many times a document is executed by graphql-js before it is compiled. */
export const INTERPRETED_ASKS = 1;

/**
 * Documents longer than this (in characters of their text) are never compiled. Compiling holds the
 * main thread, and its time grows with the document: every KPI section (1.3 KB of text) compiled
 * in 5 to 17 ms, 25 aliases of it (30 KB, 3,000 tokens, which GraphQL Armor lets through) in 76 to
 * 187 ms (bench/compileTime.ts). Whoever may send documents could otherwise make the API compile a
 * large new one for every second request. 8 KiB is several times the largest query our dashboard
 * and benches ask; past it, a document costs what it always did.
 */
export const COMPILED_SOURCE_LIMIT = 8 * 1024;

export interface CompiledExecution extends GatewayInterface {
  /** Operations compiled since the start. */
  compiledOperations(): number;
}

/**
 * `answers`, when given: whole answers to report queries, sent again while their reports are
 * current (reportAnswers.ts).
 */
export const compiledExecution = (schema: GraphQLSchema, answers?: ReportAnswers): CompiledExecution => {
  /**
   * By parsed document (Apollo hands the same object for the same text), then by operation name.
   * `compiled` is null for an operation that always runs in graphql-js. `key` names the operation
   * of the document in the answers' keys; `answerable` says whether its answers may be sent again.
   */
  const byDocument = new WeakMap<
    DocumentNode,
    Map<string | null, { asks: number; compiled?: CompiledQuery | null; key: string; answerable?: boolean }>
  >();
  let compiledCount = 0;
  let operationsSeen = 0;
  const listeners = new Set<GatewaySchemaLoadOrUpdateCallback>();

  const executor: GatewayExecutor = async (requestContext) => {
    const { document, operationName, operation, request } = requestContext;
    const context = requestContext.context as Partial<GraphQLContext>;
    if (answers === undefined) return executed(requestContext);
    const entry = operationOf(document, operationName);
    entry.answerable ??= answers.answerable(document, operation);
    if (!entry.answerable) return executed(requestContext);
    const key = answers.keyOf(entry.key, context.identity, request.variables);
    if (key === undefined) return executed(requestContext);
    const kept = answers.find(key);
    if (kept !== undefined) return kept;
    const asked: AskedReport[] = [];
    context.reportsAsked = asked;
    const result = await executed(requestContext);
    // What resolvers still running after an error would add is not part of a kept answer (none is kept then).
    context.reportsAsked = undefined;
    answers.keep(key, result, asked);
    return result;
  };

  const operationOf = (document: DocumentNode, operationName: string | null) => {
    let operations = byDocument.get(document);
    if (operations === undefined) byDocument.set(document, (operations = new Map()));
    let entry = operations.get(operationName);
    if (entry === undefined) operations.set(operationName, (entry = { asks: 0, key: String((operationsSeen += 1)) }));
    return entry;
  };

  const executed: GatewayExecutor = async ({ document, source, operationName, operation, request, context }) => {
    const interpreted = () =>
      execute({ schema, document, operationName, variableValues: request.variables, contextValue: context }) as Promise<ExecutionResult> | ExecutionResult;
    if (operation.operation === 'subscription' || source.length > COMPILED_SOURCE_LIMIT) return interpreted();
    const entry = operationOf(document, operationName);
    if (entry.compiled === undefined) {
      entry.asks += 1;
      if (entry.asks <= INTERPRETED_ASKS) return interpreted();
      entry.compiled = variablesCoercedAlike(schema, operation) ? compiledOrNull(schema, document, operationName) : null;
      if (entry.compiled !== null) compiledCount += 1;
    }
    const { compiled } = entry;
    if (compiled === null) return interpreted();
    // graphql-js judges the variables, so that a wrong one is refused with its words (graphql-jit
    // words some refusals otherwise), before anything runs.
    const variables = request.variables ?? {};
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 50 });
    if (coerced.errors !== undefined) return { errors: coerced.errors };
    const result = await compiled.query(undefined, context, variables);
    // No data at all: graphql-jit refused variables graphql-js accepted, and ran nothing (an error
    // while running gives data: null), so a mutation is not run twice. graphql-js answers, as it
    // would have from the start.
    if (result.data === undefined) return interpreted();
    return asGraphqlJsErrors(result);
  };

  return {
    onSchemaLoadOrUpdate(callback) {
      listeners.add(callback);
      return () => listeners.delete(callback);
    },
    async load() {
      const schemaContext = {
        apiSchema: schema,
        // Only Apollo's schema reporting reads it, which this API does not use: printed if asked.
        get coreSupergraphSdl() {
          return printSchema(schema);
        },
      };
      for (const listener of listeners) listener(schemaContext);
      return { executor };
    },
    async stop() {
      listeners.clear();
    },
    compiledOperations: () => compiledCount,
  };
};

/**
 * The compiled operation; or null, for graphql-js to run it, should the compiler refuse or throw on
 * a document Apollo validated (not expected).
 */
const compiledOrNull = (schema: GraphQLSchema, document: DocumentNode, operationName: string | null): CompiledQuery | null => {
  try {
    const compiled = compileQuery(schema, document, operationName ?? undefined);
    return isCompiledQuery(compiled) ? compiled : null;
  } catch {
    return null;
  }
};

/**
 * graphql-jit reports an error as an object of its own, with no `extensions` unless the resolver's
 * error had some, where graphql-js's always has them: Apollo reads them to give each error its
 * code. Each becomes the error graphql-js would have given: same message, path, locations and
 * original error (whose class our `formatError` maps to a code).
 */
const asGraphqlJsErrors = (result: ExecutionResult): ExecutionResult => {
  if (result.errors === undefined) return result;
  const errors = result.errors.map((error) => {
    const { message, path, locations, originalError } = error;
    const translated = new GraphQLError(message, { path, originalError: originalError ?? undefined, extensions: error.extensions });
    // graphql-js derives locations from the syntax nodes, which graphql-jit keeps as locations only.
    (translated as { locations?: typeof locations }).locations = locations;
    return translated;
  });
  return { ...result, errors };
};

/**
 * graphql-jit 0.8 refuses a variable whose input object leaves out a non-null field that has a
 * default (\`need: Boolean! = false\`), where graphql-js fills the default in. An operation whose
 * variables may hold such an object is not compiled.
 */
const variablesCoercedAlike = (schema: GraphQLSchema, operation: OperationDefinitionNode): boolean => {
  const checked = new Set<GraphQLInputObjectType>();
  const alike = (type: Parameters<typeof getNamedType>[0]): boolean => {
    const named = getNamedType(type);
    if (!isInputObjectType(named) || checked.has(named)) return true;
    checked.add(named);
    return Object.values(named.getFields()).every((field) => !(isNonNullType(field.type) && field.defaultValue !== undefined) && alike(field.type));
  };
  return (operation.variableDefinitions ?? []).every((definition) => alike(typeFromAST(schema, definition.type)));
};

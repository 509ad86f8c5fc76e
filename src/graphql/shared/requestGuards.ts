/**
 * What is checked once a request is parsed and validated, before any resolver runs, so that a
 * refused request writes nothing and costs next to nothing:
 * - every string is clean text and every id well formed (`inputBoundary.ts`);
 * - a document runs at most one mutation: a second one could fail after the first committed,
 *   and since payloads are non-null the answer would then hide the committed write;
 * - the caller holds a role for every root field (`roles.ts`);
 * - the estimated cost is within bounds (`queryCost.ts`).
 * Depth, aliases, tokens and field suggestions are GraphQL Armor's (see `server.ts`).
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, Kind, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { FieldProblem } from '../../core/errors';
import type { GraphQLContext } from './context';
import { literalProblems, rootFields, selectedFields, variableProblems } from './inputBoundary';
import { MAX_QUERY_COST, queryCost, variablesOfCost } from './queryCost';
import { FIELD_ROLES, hasAnyRole, mayRun, rolesFor } from './roles';

const INTROSPECTION = new Set(['__typename', '__schema', '__type']);

const refuse = (message: string, extensions: Record<string, unknown>): never => {
  throw new GraphQLError(message, { extensions: { ...extensions, http: { status: 200 } } });
};

/**
 * A document too large to even estimate (over graphql-query-complexity's node limit) costs too
 * much; variables that do not fit their types are left for execution to report, field by field.
 */
const estimatedCost = (estimate: () => number, onVariablesUnreadable: () => void): number => {
  try {
    return estimate();
  } catch (error) {
    if (error instanceof Error && /maximum allowed number of nodes/.test(error.message)) return Number.POSITIVE_INFINITY;
    onVariablesUnreadable();
    return 0;
  }
};

/**
 * What depends on the document alone, kept per operation node: Apollo hands every request with
 * the same query text the same parsed document, so a client's usual requests pay for the walks
 * of the document once, and only their variables are checked each time.
 */
interface OperationFacts {
  literalProblems: FieldProblem[];
  rootFields: string[];
  selectedFields: Set<string>;
  /** The variables its cost depends on (`variablesOfCost`). */
  variablesOfCost: string[];
  /** Costs estimated, by the values of those variables (one entry when there are none). */
  costs: Map<string, number>;
}
const factsOf = new WeakMap<OperationDefinitionNode, OperationFacts>();

const operationFacts = (schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): OperationFacts => {
  let facts = factsOf.get(operation);
  if (!facts) {
    facts = {
      literalProblems: literalProblems(schema, document),
      rootFields: rootFields(document, operation).filter((name) => !INTROSPECTION.has(name)),
      selectedFields: selectedFields(schema, document),
      variablesOfCost: variablesOfCost(document),
      costs: new Map(),
    };
    factsOf.set(operation, facts);
  }
  return facts;
};

/**
 * The values of the variables a cost depends on, as a key: each one given as `[value]`, one not
 * given as `[]` (its default, the same for every request of the document). The estimate walks
 * the whole document against the schema, about 50 us for a pipeline report or a page of leads:
 * a dashboard asking `pipeline(asOf: $asOf)` or `leads(first: $first)` again pays it once per
 * distinct value.
 */
const costKey = (names: readonly string[], variables: Record<string, unknown> | undefined): string =>
  names.length === 0 ? '' : JSON.stringify(names.map((name) => (variables !== undefined && Object.hasOwn(variables, name) ? [variables[name]] : [])));

/** Distinct costs kept per operation, the oldest dropped first; a key longer than this is not kept. */
const COSTS_PER_OPERATION = 100;
const MAX_COST_KEY_LENGTH = 200;

/** GraphiQL's and Apollo's introspection queries nest 13 levels (the `ofType` chain). */
const MAX_INTROSPECTION_DEPTH = 16;

/** How deep the operation's selections nest, fragments followed (each at most once per path). */
const selectionDepth = (document: DocumentNode, operation: OperationDefinitionNode): number => {
  const fragments = new Map(
    document.definitions.flatMap((definition) =>
      definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition.selectionSet] as const] : [],
    ),
  );
  const depthOf = (selectionSet: SelectionSetNode | undefined, visiting: ReadonlySet<string>): number => {
    let deepest = 0;
    for (const selection of selectionSet?.selections ?? []) {
      if (selection.kind === Kind.FIELD) deepest = Math.max(deepest, 1 + depthOf(selection.selectionSet, visiting));
      else if (selection.kind === Kind.INLINE_FRAGMENT) deepest = Math.max(deepest, depthOf(selection.selectionSet, visiting));
      else if (!visiting.has(selection.name.value)) {
        const next = new Set(visiting).add(selection.name.value);
        deepest = Math.max(deepest, depthOf(fragments.get(selection.name.value), next));
      }
    }
    return deepest;
  };
  return depthOf(operation.selectionSet, new Set());
};

export const requestGuards = (): ApolloServerPlugin<GraphQLContext> => ({
  async requestDidStart() {
    return {
      async didResolveOperation({ schema, document, operation, request, contextValue }) {
        if (!operation) return; // Apollo has already refused a document without the named operation.
        guardOperation(schema, document, operation, request, contextValue.identity);
      },
    };
  },
});

/**
 * The checks above, for one parsed and validated operation: throws the GraphQLError a client gets.
 * Queries and mutations pass them in the Apollo plugin; subscriptions when they start (over
 * WebSocket, `subscriptions/server.ts`).
 */
export const guardOperation = (
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  request: { variables?: Record<string, unknown>; operationName?: string | null },
  identity: GraphQLContext['identity'],
): void => {
  const contextValue = { identity };
  const facts = operationFacts(schema, document, operation);
  const problems = [...facts.literalProblems, ...variableProblems(schema, operation, request.variables)];
  if (problems.length > 0) {
    refuse(`Invalid input: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`, {
      code: 'BAD_USER_INPUT',
      fields: problems,
    });
  }

  const fields = facts.rootFields;
  if (operation.operation === 'mutation' && fields.length > 1) {
    refuse('Send one mutation per request: a later one could fail after an earlier one was recorded', {
      code: 'BAD_USER_INPUT',
      fields: [{ field: fields[1], message: 'is a second mutation in one document' }],
    });
  }

  // An anonymous caller is refused by the resolvers themselves (UNAUTHENTICATED).
  if (contextValue.identity) {
    const refused = fields.find((name) => !mayRun(contextValue.identity, name));
    if (refused !== undefined) {
      const requiredRoles = rolesFor(refused);
      refuse(`${refused} needs one of the roles: ${requiredRoles.join(', ')}`, {
        code: 'FORBIDDEN',
        requiredRoles,
      });
    }
    for (const field of facts.selectedFields) {
      const requiredRoles = FIELD_ROLES[field];
      if (requiredRoles && !hasAnyRole(contextValue.identity, requiredRoles)) {
        refuse(`${field} needs one of the roles: ${requiredRoles.join(', ')}`, { code: 'FORBIDDEN', requiredRoles });
      }
    }
  }

  // Introspection alone (GraphiQL's schema request) skips the cost estimate, which counts
  // every list of the schema's description; a depth bound keeps its cycles in check.
  if (fields.length === 0) {
    const depth = selectionDepth(document, operation);
    if (depth > MAX_INTROSPECTION_DEPTH) {
      refuse(`An introspection query may nest at most ${MAX_INTROSPECTION_DEPTH} levels (this one: ${depth})`, {
        code: 'QUERY_TOO_COSTLY',
        maxDepth: MAX_INTROSPECTION_DEPTH,
      });
    }
    return;
  }
  const key = costKey(facts.variablesOfCost, request.variables);
  let cost = facts.costs.get(key);
  if (cost === undefined) {
    let estimated = true;
    cost = estimatedCost(() => queryCost(schema, document, request.operationName ?? undefined, request.variables), () => (estimated = false));
    // Not kept when these variables could not be read: another request's may be.
    if (estimated && key.length <= MAX_COST_KEY_LENGTH) {
      if (facts.costs.size >= COSTS_PER_OPERATION) facts.costs.delete(facts.costs.keys().next().value!);
      facts.costs.set(key, cost);
    }
  }
  if (cost > MAX_QUERY_COST) {
    refuse(`This request would cost ${cost}, over the limit of ${MAX_QUERY_COST}: ask for fewer or smaller pages`, {
      code: 'QUERY_TOO_COSTLY',
      cost,
      maxCost: MAX_QUERY_COST,
    });
  }
};

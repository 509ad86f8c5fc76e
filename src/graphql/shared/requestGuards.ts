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
import { GraphQLError } from 'graphql';
import type { GraphQLContext } from './context';
import { inputProblems, rootFields, selectedFields } from './inputBoundary';
import { MAX_QUERY_COST, queryCost } from './queryCost';
import { FIELD_ROLES, hasAnyRole, mayRun, rolesFor } from './roles';

const INTROSPECTION = new Set(['__typename', '__schema', '__type']);

const refuse = (message: string, extensions: Record<string, unknown>): never => {
  throw new GraphQLError(message, { extensions: { ...extensions, http: { status: 200 } } });
};

/**
 * A document too large to even estimate (over graphql-query-complexity's node limit) costs too
 * much; variables that do not fit their types are left for execution to report, field by field.
 */
const estimatedCost = (estimate: () => number): number => {
  try {
    return estimate();
  } catch (error) {
    return error instanceof Error && /maximum allowed number of nodes/.test(error.message) ? Number.POSITIVE_INFINITY : 0;
  }
};

export const requestGuards = (): ApolloServerPlugin<GraphQLContext> => ({
  async requestDidStart() {
    return {
      async didResolveOperation({ schema, document, operation, request, contextValue }) {
        if (!operation) return; // Apollo has already refused a document without the named operation.
        const problems = inputProblems(schema, document, operation, request.variables);
        if (problems.length > 0) {
          refuse(`Invalid input: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`, {
            code: 'BAD_USER_INPUT',
            fields: problems,
          });
        }

        const fields = rootFields(document, operation).filter((name) => !INTROSPECTION.has(name));
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
          for (const field of selectedFields(schema, document)) {
            const requiredRoles = FIELD_ROLES[field];
            if (requiredRoles && !hasAnyRole(contextValue.identity, requiredRoles)) {
              refuse(`${field} needs one of the roles: ${requiredRoles.join(', ')}`, { code: 'FORBIDDEN', requiredRoles });
            }
          }
        }

        const cost = estimatedCost(() => queryCost(schema, document, request.operationName ?? undefined, request.variables));
        if (cost > MAX_QUERY_COST) {
          refuse(`This request would cost ${cost}, over the limit of ${MAX_QUERY_COST}: ask for fewer or smaller pages`, {
            code: 'QUERY_TOO_COSTLY',
            cost,
            maxCost: MAX_QUERY_COST,
          });
        }
      },
    };
  },
});

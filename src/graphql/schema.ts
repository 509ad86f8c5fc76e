import 'reflect-metadata';
import { assertValidSchema, isObjectType, lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema, getMetadataStorage, type AuthChecker, type PubSub } from 'type-graphql';
import { AccountResolver } from './resolvers/accounts';
import { AuditResolver } from './resolvers/audit';
import { KpiGroupResolver, KpiResolver, KpiRestatementResolver, RetrospectiveResolver } from './resolvers/insights';
import { ContactResolver, LeadContactResolver } from './resolvers/contacts';
import { LeadDuplicatesResolver } from './resolvers/leadDuplicates';
import { SubscriptionResolver } from './resolvers/subscriptions';
import { LeadImportResolver } from './resolvers/leadImport';
import { LeadListResolver, LeadListsOfLeadResolver } from './resolvers/leadLists';
import { LeadResolver } from './resolvers/leads';
import { ConversionResolver, LeadConversionResolver } from './resolvers/conversion';
import { OpportunityResolver } from './resolvers/opportunities';
import { PersonalDataResolver } from './resolvers/personalData';
import { ScoringResolver } from './resolvers/scoring';
import { ForbiddenError } from '../core/errors';
import type { GraphQLContext } from './shared/context';
import { describeRoles, hasAnyRole, type Role } from './shared/roles';
import { rememberValidationRules } from './shared/validationMetadata';
import { SystemResolver } from './resolvers/system';

/**
 * `@Authorized()` asks for a verified identity (UNAUTHENTICATED otherwise); `@Authorized(roles)`
 * on a field asks for one of the roles as well. Root fields are checked before execution against
 * the table in `shared/roles.ts`; this checks the few fields inside an answer that are narrower.
 */
const authChecker: AuthChecker<GraphQLContext> = ({ context, info }, roles) => {
  if (!context.identity) return false;
  if (roles.length === 0 || hasAnyRole(context.identity, roles as Role[])) return true;
  throw new ForbiddenError(`${info.parentType.name}.${info.fieldName}`, roles);
};

/**
 * type-graphql wants a PubSub as soon as there is a subscription, even though ours subscribe to
 * the change feed themselves (`subscribe`) and never name a topic.
 */
const NO_TOPICS: PubSub = {
  publish: () => {
    throw new Error('Subscriptions follow the change feed; there are no topics to publish to');
  },
  subscribe: () => {
    throw new Error('Subscriptions follow the change feed; there are no topics to subscribe to');
  },
};

let built: Promise<GraphQLSchema> | undefined;

/** Built once per process: type-graphql's metadata is global and rebuilding is slow (#1248). */
export const buildCrmSchema = (): Promise<GraphQLSchema> =>
  (built ??= buildSchema({
    resolvers: [LeadResolver, ConversionResolver, LeadConversionResolver, OpportunityResolver, AccountResolver, ContactResolver, LeadContactResolver, KpiResolver, RetrospectiveResolver, KpiRestatementResolver, KpiGroupResolver, ScoringResolver, AuditResolver, SystemResolver, PersonalDataResolver, LeadListResolver, LeadListsOfLeadResolver, LeadImportResolver, LeadDuplicatesResolver, SubscriptionResolver],
    authChecker,
    authMode: 'error',
    pubSub: NO_TOPICS,
    validate: { forbidUnknownValues: false },
    // type-graphql's own check runs the whole introspection query over the schema (about 90 ms of
    // every start); graphql's validation below finds the same errors.
    skipCheck: true,
  }).then((schema) => {
    readPlainFieldsDirectly(schema);
    assertValidSchema(schema);
    describeRoles(schema);
    // Every input type is declared by now: the rules validation looks up can be remembered.
    rememberValidationRules();
    return schema;
  }));

/** The SDL as committed in schema/schema.graphql: sorted, so that diffs show real changes only. */
export const printCrmSchema = async (): Promise<string> =>
  `${printSchema(lexicographicSortSchema(await buildCrmSchema()))}\n`;

/**
 * type-graphql gives every field a resolver of its own, which reads the property through its
 * middleware chain even where there is no middleware and no role to check. A KPI answer has
 * thousands of such fields, and that resolver kept graphql-jit from reading them inline
 * (compiledExecution.ts). A field with no `@Authorized`, no middleware, no field resolver and the
 * same name in the schema as in its class is left to GraphQL's default resolver instead, which
 * reads the same property. Every other field keeps type-graphql's resolver, and with it its checks.
 * (No global middleware is given to buildSchema: each field's list is all of them.)
 */
/** A class, then the class it extends, and so on. */
const ancestry = (target: Function): Function[] => {
  const classes: Function[] = [];
  for (let current: unknown = target; typeof current === 'function' && current !== Function.prototype; current = Object.getPrototypeOf(current)) {
    classes.push(current as Function);
  }
  return classes;
};

export const readPlainFieldsDirectly = (schema: GraphQLSchema): void => {
  const storage = getMetadataStorage();
  for (const objectType of storage.objectTypes) {
    const graphqlType = schema.getType(objectType.name);
    if (!isObjectType(graphqlType)) continue;
    const graphqlFields = graphqlType.getFields();
    // A class's fields and those it inherits (`class LossReasonSlice extends LossSlice`), its own
    // first: type-graphql keeps an inherited field's metadata on the class that declares it.
    const classes = ancestry(objectType.target);
    const named = new Set<string>();
    const fields = classes.flatMap((target) => storage.fields.filter((field) => field.target === target && !named.has(field.name) && named.add(field.name)));
    for (const field of fields) {
      const plain =
        field.roles === undefined &&
        (field.middlewares ?? []).length === 0 &&
        field.name === field.schemaName &&
        !storage.fieldResolvers.some((resolver) => resolver.methodName === field.name && classes.includes(resolver.getObjectType?.() as Function));
      const graphqlField = graphqlFields[field.schemaName];
      if (plain && graphqlField !== undefined) graphqlField.resolve = undefined;
    }
  }
};

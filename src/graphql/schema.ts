import 'reflect-metadata';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema, type AuthChecker } from 'type-graphql';
import { AccountResolver } from './resolvers/accounts';
import { AuditResolver } from './resolvers/audit';
import { KpiResolver, RetrospectiveResolver } from './resolvers/insights';
import { ContactResolver } from './resolvers/contacts';
import { LeadResolver } from './resolvers/leads';
import { ConversionResolver, LeadConversionResolver } from './resolvers/conversion';
import { OpportunityResolver } from './resolvers/opportunities';
import { ScoringResolver } from './resolvers/scoring';
import type { GraphQLContext } from './shared/context';
import { SystemResolver } from './resolvers/system';

/** Role rules come later; for now every operation needs a verified identity, nothing more. */
const authChecker: AuthChecker<GraphQLContext> = ({ context }, roles) =>
  context.identity !== undefined && roles.every((role) => context.identity!.roles.includes(role));

let built: Promise<GraphQLSchema> | undefined;

/** Built once per process: type-graphql's metadata is global and rebuilding is slow (#1248). */
export const buildCrmSchema = (): Promise<GraphQLSchema> =>
  (built ??= buildSchema({
    resolvers: [LeadResolver, ConversionResolver, LeadConversionResolver, OpportunityResolver, AccountResolver, ContactResolver, KpiResolver, RetrospectiveResolver, ScoringResolver, AuditResolver, SystemResolver],
    authChecker,
    authMode: 'error',
    validate: { forbidUnknownValues: false },
  }));

/** The SDL as committed in schema/schema.graphql: sorted, so that diffs show real changes only. */
export const printCrmSchema = async (): Promise<string> =>
  `${printSchema(lexicographicSortSchema(await buildCrmSchema()))}\n`;

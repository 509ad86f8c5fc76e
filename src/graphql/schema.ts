import 'reflect-metadata';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema, type AuthChecker } from 'type-graphql';
import { AccountResolver } from '../accounts/api';
import { AuditResolver } from '../audit/api';
import { KpiResolver, RetrospectiveResolver } from '../insights/api';
import { ContactResolver } from '../contacts/api';
import { LeadResolver } from '../leads/api';
import { ConversionResolver, LeadConversionResolver } from '../leads/conversionApi';
import { OpportunityResolver } from '../opportunities/api';
import { ScoringResolver } from '../scoring/api';
import type { GraphQLContext } from './context';
import { SystemResolver } from './systemResolver';

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

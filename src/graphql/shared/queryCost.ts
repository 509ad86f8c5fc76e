/**
 * What one request may cost, estimated before it runs with graphql-query-complexity: a field
 * costs what it does (a retrospective folds the whole log; `history` reads a stream), a list
 * multiplies what is selected under it by the page asked for (`first`) or, for the lists that
 * are not paged (an account's contacts, an opportunity's quotes), by a typical length. Cyclic
 * selections (`account { contacts { account { contacts ... } } }`) therefore grow
 * geometrically and are refused long before they could hurt.
 */
import { getNamedType, isLeafType, isListType, isNonNullType, Kind, visit, type GraphQLOutputType, type ValueNode } from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import { DEFAULT_PAGE_SIZE } from '../../../projections/pagination';

/** Allows a dashboard's worth of queries in one request; refuses anything that multiplies. */
export const MAX_QUERY_COST = 20_000;

/** Root fields whose own work outweighs the rows they return. */
const FIELD_COST: Readonly<Record<string, number>> = {
  retrospective: 8_000, // folds the whole event log in memory
  kpis: 1_000, // aggregates every fact table
  kpiRestatements: 2_000, // reads every version of a period's facts, and an event per restatement of its page
  conversionTrace: 200, // reads four streams
  history: 100, // reads a whole stream
  personalData: 200, // reads every stream of a person, their opportunities' and their erasures'
  erasePersonalData: 200, // the same walk, then waits for the read models
  reproduceScore: 100,
  rescoreOpenLeads: 2_000, // one command per open lead
  assignLeadList: 2_000, // one command per lead of the list
  importLeads: 2_000, // up to 500 captures
  addLeadsToList: 100, // up to 1,000 leads looked up and added
  createLeadList: 100, // the same, for a list's first leads
  auditTrail: 50,
  pipeline: 50,
};

/** The lists that are the items of a page whose field takes `first`. */
const PAGE_ITEMS: ReadonlySet<string> = new Set(['edges', 'restatements']);

/** How long an unpaged list usually is: an account's contacts, an opportunity's quotes. */
const UNPAGED_LIST_LENGTH = 20;

const isList = (type: GraphQLOutputType): boolean => isListType(isNonNullType(type) ? type.ofType : type);

const estimateCost: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
  const isRoot = type.name === 'Query' || type.name === 'Mutation';
  const leaf = isLeafType(getNamedType(field.type));
  const own = (isRoot ? FIELD_COST[field.name] : undefined) ?? (leaf ? 0 : 1);
  // Time travel folds a stream (or the pipeline's history) instead of reading one row.
  const travel = args.asOf !== undefined || args.knownAt !== undefined ? 50 : 0;
  if (field.args.some((arg) => arg.name === 'first')) {
    const pageSize = typeof args.first === 'number' ? Math.max(args.first, 1) : DEFAULT_PAGE_SIZE;
    return own + travel + pageSize * childComplexity;
  }
  // A page's items (a connection's edges, a page of restatements) are already counted by its `first`.
  const unpagedList = isList(field.type) && !leaf && !PAGE_ITEMS.has(field.name);
  return own + travel + (unpagedList ? UNPAGED_LIST_LENGTH : 1) * childComplexity;
};

/** The only arguments the estimate reads (besides @include and @skip, which graphql-query-complexity honours). */
const COST_ARGUMENTS: ReadonlySet<string> = new Set(['first', 'asOf', 'knownAt']);

/**
 * The variables a request's cost can depend on: those given to a field's `first`, `asOf` or
 * `knownAt`, or to a directive. A mutation's `$input` is none of them, so its cost is estimated
 * once per document; a page asked with `first: $first`, once per page size.
 */
export const variablesOfCost = (document: DocumentNode): string[] => {
  const names = new Set<string>();
  const collect = (value: ValueNode) => {
    if (value.kind === Kind.VARIABLE) names.add(value.name.value);
    else if (value.kind === Kind.LIST) value.values.forEach(collect);
    else if (value.kind === Kind.OBJECT) value.fields.forEach((field) => collect(field.value));
  };
  visit(document, {
    Field(field) {
      for (const argument of field.arguments ?? []) if (COST_ARGUMENTS.has(argument.name.value)) collect(argument.value);
    },
    Directive(directive) {
      for (const argument of directive.arguments ?? []) collect(argument.value);
    },
  });
  return [...names].sort();
};

/** The estimated cost of running `document`'s operation with these variables. */
export const queryCost = (
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined,
  variables: Record<string, unknown> | undefined,
): number =>
  getComplexity({ schema, query: document, operationName, variables, estimators: [estimateCost], maxQueryNodes: 10_000 });

/**
 * Whole answers to report queries, sent again while every report in them is still what it was.
 *
 * Why: a dashboard asks the same KPI and pipeline queries over and over, and the reports come
 * from memory while nothing they read changes (projections/reportCache.ts). Even so, each ask
 * built the answer again from the report, field by field, and wrote it out as JSON: for every
 * KPI section over two years by month, thousands of fields. Under 20 readers and 10 writers that
 * was about a fifth of the main thread, the thread every request waits on (issue 11, goal 4).
 *
 * An answer is sent again only when all of this holds:
 * - the operation is a query whose every field is either a plain property (no resolver: no role
 *   check, no middleware, nothing read; see `readPlainFieldsDirectly` in schema.ts) or one of the
 *   report resolvers below, each of which answers with a report from the cache (`askReport`) and
 *   checks nothing of the caller but its roles;
 * - the caller is authenticated and holds the same roles as the caller it was built for, and the
 *   variables are the same JSON;
 * - it was asked at least twice (a query asked once, such as a KPI with a new period end at each
 *   ask, is never kept), and the answer kept had no error;
 * - each report it was made of is still the report cache's answer to the same request, nothing
 *   they read having changed since (`ReportCache.answerAgain`, which counts them as answered from
 *   memory).
 *
 * The checks before execution (GraphQL Armor, cost, roles by operation) and the log line and
 * metrics of the request are Apollo's and run as for any request: only the execution is skipped.
 * The JSON of such an answer is written once (`stringifyResult`) and sent as it is again.
 */
import {
  getNamedType,
  isObjectType,
  Kind,
  type DocumentNode,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { AskedReport, ReportCache } from '../../projections/reportCache';
import type { Identity } from '../identity/jwt';

/**
 * The fields with a resolver of their own that an answer may hold: each answers with reports
 * asked through `askReport`, and from its arguments (which are in the variables or the text).
 */
export const REPORT_RESOLVERS: ReadonlySet<string> = new Set([
  'Query.kpis',
  'Query.pipeline',
  'KpiReport.leadFunnel',
  'KpiReport.disqualificationReasons',
  'KpiReport.lossReasons',
  'KpiReport.salesOutcomes',
  'KpiReport.timeInStage',
  'KpiReport.pipelineValue',
]);

/**
 * Answers kept: each holds its answer and its JSON, as large as the report for every KPI section
 * (a few hundred KiB); a dashboard asks a handful of distinct queries.
 */
export const KEPT_ANSWERS = 32;
/** Requests seen once, remembered so that their second ask is kept. */
const SEEN_ONCE = 256;

interface KeptAnswer {
  result: ExecutionResult;
  asked: readonly AskedReport[];
}

export interface ReportAnswers {
  /** Whether answers to this operation of this document may be sent again (the executor asks once per operation). */
  answerable(document: DocumentNode, operation: OperationDefinitionNode): boolean;
  /** The key of a request to an answerable operation, or undefined when its answer must be built. */
  keyOf(operationKey: string, identity: Identity | undefined, variables: Record<string, unknown> | undefined): string | undefined;
  /** The answer kept for `key`, if every report in it is still current. */
  find(key: string): ExecutionResult | undefined;
  /** Keeps the answer built for `key` from the reports `asked`, when it was asked before and has no error. */
  keep(key: string, result: ExecutionResult, asked: readonly AskedReport[]): void;
  /** Apollo's `stringifyResult`: an answer kept is written to JSON once. */
  stringifyResult(value: FormattedExecutionResult): string;
  /** Answers sent again since the start. */
  sentAgain(): number;
}

export const reportAnswers = (schema: GraphQLSchema, reports: ReportCache): ReportAnswers => {
  const kept = new Map<string, KeptAnswer>();
  const seenOnce = new Map<string, true>();
  /** The data of each answer kept (the same object each time it is sent), and its JSON once written. */
  const keptData = new WeakSet<object>();
  const written = new WeakMap<object, string>();
  let sent = 0;

  return {
    answerable(document, operation) {
      const query = schema.getQueryType();
      return operation.operation === 'query' && query !== undefined && query !== null && onlyReports(document, operation.selectionSet, query);
    },
    keyOf(operationKey, identity, variables) {
      if (identity === undefined) return undefined;
      return `${operationKey}\u0000${[...identity.roles].sort().join(',')}\u0000${JSON.stringify(variables ?? {})}`;
    },
    find(key) {
      const answer = kept.get(key);
      if (answer === undefined) return undefined;
      if (!reports.answerAgain(answer.asked)) {
        // Asked again since: its next answer is kept at once.
        kept.delete(key);
        seenOnce.set(key, true);
        return undefined;
      }
      kept.delete(key);
      kept.set(key, answer);
      sent += 1;
      return answer.result;
    },
    keep(key, result, asked) {
      if (result.errors !== undefined || result.data === undefined || result.data === null) return;
      if (!seenOnce.delete(key)) {
        seenOnce.set(key, true);
        if (seenOnce.size > SEEN_ONCE) seenOnce.delete(seenOnce.keys().next().value!);
        return;
      }
      // Only an answer all of whose reports are remembered can be checked again later.
      if (!reports.areCurrent(asked)) return;
      kept.set(key, { result, asked });
      keptData.add(result.data);
      if (kept.size > KEPT_ANSWERS) kept.delete(kept.keys().next().value!);
    },
    stringifyResult(value) {
      const { data } = value;
      if (value.errors !== undefined || value.extensions !== undefined || typeof data !== 'object' || data === null) return `${JSON.stringify(value)}\n`;
      let json = written.get(data);
      if (json === undefined) {
        json = `${JSON.stringify(value)}\n`;
        if (keptData.has(data)) written.set(data, json);
      }
      return json;
    },
    sentAgain: () => sent,
  };
};

/**
 * Whether every field of `selectionSet` (on `parent`), fragments included, is a plain property
 * or a report resolver. Anything else (a field with a role check or a resolver that reads the
 * read models, an interface or a union, an unknown fragment) makes the answer one to build.
 */
const onlyReports = (document: DocumentNode, selectionSet: SelectionSetNode, parent: GraphQLObjectType): boolean =>
  selectionSet.selections.every((selection) => {
    switch (selection.kind) {
      case Kind.FIELD: {
        const name = selection.name.value;
        if (name === '__typename') return true;
        const field = parent.getFields()[name];
        if (field === undefined) return false;
        if (field.resolve !== undefined && !REPORT_RESOLVERS.has(`${parent.name}.${name}`)) return false;
        if (selection.selectionSet === undefined) return true;
        const type = getNamedType(field.type);
        return isObjectType(type) && onlyReports(document, selection.selectionSet, type);
      }
      case Kind.INLINE_FRAGMENT:
        return (selection.typeCondition === undefined || selection.typeCondition.name.value === parent.name) && onlyReports(document, selection.selectionSet, parent);
      case Kind.FRAGMENT_SPREAD: {
        const fragment = document.definitions.find((definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value);
        return (
          fragment?.kind === Kind.FRAGMENT_DEFINITION && fragment.typeCondition.name.value === parent.name && onlyReports(document, fragment.selectionSet, parent)
        );
      }
      default:
        return false;
    }
  });

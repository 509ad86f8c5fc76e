/**
 * Which answers reportAnswers.ts may send again, how many it keeps, and its JSON written once, on
 * the API's own schema and a report cache whose answers the test says are current or not.
 */
import 'reflect-metadata';
import { Kind, parse, type ExecutionResult, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AskedReport, ReportCache } from '../../projections/reportCache';
import { KEPT_ANSWERS, reportAnswers, type ReportAnswers } from './reportAnswers';
import { buildCrmSchema } from './schema';

let schema: GraphQLSchema;
beforeAll(async () => {
  schema = await buildCrmSchema();
});

/** A report cache whose reports are current while `current` says so; it counts what it answered again. */
const reportsWhile = (current: () => boolean) => {
  let answered = 0;
  const reports: ReportCache = {
    get db(): never {
      throw new Error('not asked here');
    },
    report: () => Promise.reject(new Error('not asked here')),
    reportInParts: () => Promise.reject(new Error('not asked here')),
    areCurrent: () => current(),
    answerAgain: (asked) => {
      if (!current()) return false;
      answered += asked.length;
      return true;
    },
    stats: () => ({ hits: answered, misses: 0, entries: 0, rows: 0 }),
  };
  return { reports, answered: () => answered };
};

const answerable = (answers: ReportAnswers, text: string): boolean => {
  const document = parse(text);
  const operation = document.definitions.find((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION)!;
  return answers.answerable(document, operation);
};

const PERIOD = 'from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z"';
const asked: AskedReport[] = [{ name: 'leadFunnel', request: {}, value: [] }];
const identity = { actor: 'alice', roles: ['sales_manager', 'sales'] };
const result = (n: number): ExecutionResult => ({ data: { kpis: { n } } });

describe('answers that may be sent again', () => {
  it('are those of queries made only of reports and their plain fields, fragments included', () => {
    const answers = reportAnswers(schema, reportsWhile(() => true).reports);
    expect(answerable(answers, `{ kpis(${PERIOD}) { from leadFunnel { group { month } captured } lossReasons { reasons { count share amount { amount } } } } }`)).toBe(true);
    expect(answerable(answers, `{ pipeline { count amount { amount } } __typename }`)).toBe(true);
    expect(answerable(answers, `{ kpis(${PERIOD}) { ...sections } } fragment sections on KpiReport { leadFunnel { captured } ... on KpiReport { timeInStage { stages { stage } } } }`)).toBe(true);
    // A group's list is read from the lead lists, not from a report.
    expect(answerable(answers, `{ kpis(${PERIOD}, groupBy: [LIST]) { leadFunnel { group { list { name } } captured } } }`)).toBe(false);
    expect(answerable(answers, `{ kpis(${PERIOD}) { leadFunnel { captured } } leads { totalCount } }`)).toBe(false);
    expect(answerable(answers, `{ retrospective(${PERIOD}) { leadFunnel { captured } } }`)).toBe(false);
    expect(answerable(answers, `mutation { archiveLeadList(input: { listId: "l" }) { list { id } } }`)).toBe(false);
  });

  it('are kept from their second ask, for the same roles in any order and the same variables, never without a caller', () => {
    const answers = reportAnswers(schema, reportsWhile(() => true).reports);
    expect(answers.keyOf('1', undefined, {})).toBeUndefined();
    const key = answers.keyOf('1', identity, { to: 'x' })!;
    expect(answers.keyOf('1', { actor: 'bob', roles: ['sales', 'sales_manager'] }, { to: 'x' })).toBe(key);
    expect(answers.keyOf('1', { actor: 'bob', roles: ['sales'] }, { to: 'x' })).not.toBe(key);
    expect(answers.keyOf('1', identity, { to: 'y' })).not.toBe(key);
    expect(answers.keyOf('2', identity, { to: 'x' })).not.toBe(key);

    answers.keep(key, result(1), asked);
    expect(answers.find(key)).toBeUndefined();
    const second = result(2);
    answers.keep(key, second, asked);
    expect(answers.find(key)).toBe(second);
    expect(answers.sentAgain()).toBe(1);
  });

  it('are not kept with an error, and are dropped once a report in them is no longer current', () => {
    let current = true;
    const { reports, answered } = reportsWhile(() => current);
    const answers = reportAnswers(schema, reports);
    const key = answers.keyOf('1', identity, {})!;
    const failed: ExecutionResult = { data: { kpis: null }, errors: [] };
    answers.keep(key, failed, asked);
    answers.keep(key, failed, asked);
    expect(answers.find(key)).toBeUndefined();

    // The asks that failed do not count: two more are needed.
    answers.keep(key, result(1), asked);
    expect(answers.find(key)).toBeUndefined();
    answers.keep(key, result(1), asked);
    expect(answers.find(key)).toEqual(result(1));
    expect(answered()).toBe(1);
    current = false;
    expect(answers.find(key)).toBeUndefined();
    current = true;
    // Asked again since it was dropped: its next answer is kept at once.
    const fresh = result(2);
    answers.keep(key, fresh, asked);
    expect(answers.find(key)).toBe(fresh);
  });

  it(`keeps at most ${KEPT_ANSWERS}, the least recently sent dropped first`, () => {
    const answers = reportAnswers(schema, reportsWhile(() => true).reports);
    const keys = Array.from({ length: KEPT_ANSWERS + 1 }, (_, n) => answers.keyOf('1', identity, { n })!);
    for (const key of keys.slice(0, KEPT_ANSWERS)) {
      answers.keep(key, result(0), asked);
      answers.keep(key, result(1), asked);
    }
    expect(answers.find(keys[0]!)).toBeDefined();
    answers.keep(keys[KEPT_ANSWERS]!, result(0), asked);
    answers.keep(keys[KEPT_ANSWERS]!, result(1), asked);
    expect(answers.find(keys[0]!)).toBeDefined();
    expect(answers.find(keys[1]!)).toBeUndefined();
    expect(answers.find(keys[KEPT_ANSWERS]!)).toBeDefined();
  });

  it('writes the JSON of a kept answer once, and that of any other answer as Apollo does', () => {
    const answers = reportAnswers(schema, reportsWhile(() => true).reports);
    const key = answers.keyOf('1', identity, {})!;
    const kept = result(7);
    answers.keep(key, result(6), asked);
    answers.keep(key, kept, asked);
    const formatted = { errors: undefined, data: kept.data, extensions: undefined };
    const json = answers.stringifyResult(formatted);
    expect(json).toBe(`${JSON.stringify(formatted)}\n`);
    expect(json).toBe('{"data":{"kpis":{"n":7}}}\n');
    // The same data written again: the same string, not written anew (a changed object would show).
    (kept.data as { kpis: { n: number } }).kpis.n = 8;
    expect(answers.stringifyResult({ ...formatted })).toBe(json);
    // Data not kept is written each time.
    const other = { data: { kpis: { n: 1 } } };
    expect(answers.stringifyResult(other)).toBe('{"data":{"kpis":{"n":1}}}\n');
    other.data.kpis.n = 2;
    expect(answers.stringifyResult(other)).toBe('{"data":{"kpis":{"n":2}}}\n');
    expect(answers.stringifyResult({ data: kept.data, errors: [{ message: 'no' }] })).toContain('"errors"');
  });
});

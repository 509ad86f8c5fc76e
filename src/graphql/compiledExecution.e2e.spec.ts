/**
 * An operation asked again runs compiled (compiledExecution.ts). Over HTTP, its answers, errors
 * and HTTP status included, are the ones graphql-js gave the first time it was asked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type GraphQLResponse, type TestServer } from '../../test/support/testServer';
import { KPI_SELECTION } from '../../test/support/kpiSelection';
import { COMPILED_SOURCE_LIMIT } from './compiledExecution';

let api: TestServer;
const leadIds: string[] = [];
beforeAll(async () => {
  api = await startTestServer();
  for (const [n, source] of ['WEB_FORM', 'REFERRAL', 'TRADE_FAIR'].entries()) {
    const response = await api.gql(CAPTURE, {
      input: { source, person: { firstName: 'Ana', lastName: `Compiled ${n}`, email: `compiled-${n}@example.com` } },
    });
    expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
    leadIds.push(response.data!.captureLead.lead.id);
  }
  const disqualified = await api.gql(`mutation($input: DisqualifyLeadInput!) { disqualifyLead(input: $input) { lead { id } } }`, {
    input: { leadId: leadIds[0], reason: 'NO_NEED', notes: 'Has a supplier' },
  });
  expect(disqualified.errors, JSON.stringify(disqualified.errors)).toBeUndefined();
});
afterAll(() => api.stop());

const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`;
const HOUR = 3_600_000;
const period = { from: new Date(Date.now() - 24 * HOUR).toISOString(), to: new Date(Date.now() + HOUR).toISOString() };

/** The same request twice: the first answered by graphql-js, the second by the compiled operation. */
const askTwice = async (query: string, variables?: Record<string, unknown>, options?: { as?: string; roles?: string[] }) => {
  const before = api.server.compiledOperations();
  const first = await api.gql(query, variables, options);
  const afterFirst = api.server.compiledOperations();
  const second = await api.gql(query, variables, options);
  return { first, second, compiledByFirst: afterFirst - before, compiledBySecond: api.server.compiledOperations() - afterFirst };
};

/** An answer but for the stack traces that development mode adds to errors: they name the code that threw. */
const withoutStackTraces = (response: GraphQLResponse) => ({
  ...response,
  errors: response.errors?.map(({ extensions, ...error }) => {
    const { stacktrace: _, ...rest } = extensions ?? {};
    return { ...error, extensions: rest };
  }),
});

const expectSameAnswerCompiled = (asked: Awaited<ReturnType<typeof askTwice>>): GraphQLResponse => {
  expect(asked.compiledByFirst).toBe(0);
  expect(asked.compiledBySecond).toBe(1);
  expect(withoutStackTraces(asked.second)).toEqual(withoutStackTraces(asked.first));
  return asked.second;
};

describe('operations asked again run compiled, with the answers graphql-js gives', () => {
  it('every KPI section, as a dashboard asks it', async () => {
    const answer = expectSameAnswerCompiled(
      await askTwice(`query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to, groupBy: SOURCE) { ${KPI_SELECTION} } }`, period),
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.kpis.disqualificationReasons).toContainEqual(
      expect.objectContaining({ total: 1, reasons: [expect.objectContaining({ reason: { code: 'NO_NEED', label: expect.any(String) }, count: 1 })] }),
    );
    // A third ask runs the compiled operation again: nothing is compiled twice.
    const before = api.server.compiledOperations();
    await api.gql(`query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to, groupBy: SOURCE) { ${KPI_SELECTION} } }`, period);
    expect(api.server.compiledOperations()).toBe(before);
  });

  it('a filtered page of leads, its enums, scalars and nested objects, and a lead that does not exist', async () => {
    const answer = expectSameAnswerCompiled(
      await askTwice(
        `query($status: LeadStatus, $first: Int = 2, $missing: ID!) {
          leads(filter: { status: $status }, first: $first) { totalCount edges { cursor node { id status source capturedAt person { lastName email } } } pageInfo { hasNextPage endCursor } }
          lead(id: $missing) { id }
        }`,
        { status: 'NEW', missing: 'no-such-lead' },
      ),
    );
    expect(answer.data!.leads.totalCount).toBe(2);
    expect(answer.data!.leads.edges).toHaveLength(2);
    expect(answer.data!.lead).toBeNull();
  });

  it('a variable of the wrong type: the same BAD_USER_INPUT, status and message', async () => {
    const answer = expectSameAnswerCompiled(
      await askTwice(`query($status: LeadStatus) { leads(filter: { status: $status }) { totalCount } }`, { status: 'NOT_A_STATUS' }),
    );
    expect(answer.status).toBe(400);
    expect(answer.errors).toEqual([
      expect.objectContaining({ message: expect.stringContaining('"NOT_A_STATUS"'), extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }),
    ]);
  });

  it('a refused mutation: the same code, message, path and location', async () => {
    const answer = expectSameAnswerCompiled(
      await askTwice(`mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { id } } }`, {
        input: { leadId: 'no-such-lead', channel: 'CALL', outcome: 'REACHED' },
      }),
    );
    expect(answer.errors).toEqual([
      expect.objectContaining({ path: ['logLeadContact'], locations: [{ line: 1, column: 42 }], extensions: expect.objectContaining({ code: 'NOT_FOUND' }) }),
    ]);
  });

  it("a resolver's refusal for a role: the same FORBIDDEN with the roles it needs, and nothing written", async () => {
    const answer = expectSameAnswerCompiled(
      await askTwice(
        `mutation($input: AssignLeadInput!) { assignLead(input: $input) { lead { id ownerId } } }`,
        { input: { leadId: leadIds[1], ownerId: 'bob' } },
        { as: 'alice', roles: ['sales'] },
      ),
    );
    expect(answer.data).toBeUndefined();
    expect(answer.errors).toEqual([expect.objectContaining({ path: ['assignLead'], extensions: expect.objectContaining({ code: 'FORBIDDEN', requiredRoles: expect.any(Array) }) })]);
    const lead = await api.gql(`query($id: ID!) { lead(id: $id) { ownerId } }`, { id: leadIds[1] });
    expect(lead.data!.lead.ownerId).toBeNull();
  });

  it('a document longer than the limit is never compiled, however often it is asked', async () => {
    const query = `query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to) { leadFunnel { captured } } }\n# ${'x'.repeat(COMPILED_SOURCE_LIMIT)}`;
    const asked = await askTwice(query, period);
    expect(asked.compiledByFirst + asked.compiledBySecond).toBe(0);
    expect(asked.second.errors).toBeUndefined();
    expect(asked.second.data!.kpis.leadFunnel).toEqual([expect.objectContaining({ captured: 3 })]);
    // The same operation, shorter than the limit, is compiled at its second ask.
    expectSameAnswerCompiled(await askTwice(`query($from: DateTime!, $to: DateTime!) { kpis(from: $from, to: $to) { leadFunnel { captured } } }`, period));
  });

  it('an operation whose input may leave out a non-null field with a default stays interpreted, and gets the default', async () => {
    const QUALIFY = `mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { qualification { criteria { need budget authority timing } } } } }`;
    const before = api.server.compiledOperations();
    for (const leadId of leadIds.slice(1)) {
      const response = await api.gql(QUALIFY, { input: { leadId, rank: 'MQL', criteria: { need: true } } });
      expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
      expect(response.data!.qualifyLead.lead.qualification.criteria).toEqual({ need: true, budget: false, authority: false, timing: false });
    }
    expect(api.server.compiledOperations()).toBe(before);
  });
});

/**
 * Requests an attacker would send to wedge the service or poison the log: each is refused
 * before it runs, quickly, with a clear code, while a cheap query keeps answering; and nothing
 * of a refused request is written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const codeOf = (response: { errors?: any[] }) => response.errors?.[0]?.extensions?.code;
const CHEAP = `{ disqualificationReasons { code } }`;

/** Sends `query` and, while it is being refused, a cheap query; returns both latencies. */
const refusedWhileCheapAnswers = async (query: string) => {
  const started = performance.now();
  const [refused, cheap] = await Promise.all([
    api.gql(query).then((response) => ({ response, ms: performance.now() - started })),
    api.gql(CHEAP).then((response) => ({ response, ms: performance.now() - started })),
  ]);
  expect(cheap.response.errors).toBeUndefined();
  return { refused: refused.response, refusedMs: refused.ms, cheapMs: cheap.ms };
};

const report = (what: string, figures: { refusedMs: number; cheapMs: number }) =>
  console.log(`${what}: refused in ${figures.refusedMs.toFixed(1)} ms; a concurrent cheap query answered in ${figures.cheapMs.toFixed(1)} ms`);

describe('query cost limits', () => {
  beforeAll(async () => {
    const account = await api.gql(`mutation { openAccount(input: { kind: COMPANY, name: "Knot SL" }) { account { id } } }`);
    const accountId = account.data!.openAccount.account.id;
    for (const lastName of ['One', 'Two']) {
      await api.gql(`mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } } }`, {
        input: { lastName, accountId },
      });
    }
  });

  it('refuses a cyclic selection 34 levels deep before running it', async () => {
    let selection = 'id';
    for (let level = 0; level < 17; level++) selection = `contacts { account { ${selection} } }`;
    const query = `{ accounts(first: 1) { edges { node { ${selection} } } } }`;
    const figures = await refusedWhileCheapAnswers(query);
    report('depth-34 cyclic query', figures);
    expect(codeOf(figures.refused)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(figures.refused.errors![0]!.message).toMatch(/depth/i);
    expect(figures.refusedMs).toBeLessThan(1_000);
  });

  it('refuses a shallower cycle by its cost', async () => {
    let selection = 'id';
    for (let level = 0; level < 4; level++) selection = `contacts { account { ${selection} } }`;
    const response = await api.gql(`{ accounts(first: 200) { edges { node { ${selection} } } } }`);
    expect(codeOf(response)).toBe('QUERY_TOO_COSTLY');
    expect(response.errors![0]!.extensions!.maxCost).toBeGreaterThan(0);
  });

  it.each([
    ['retrospective', `r: retrospective(from: "2025-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { eventsReplayed }`],
    ['leads(first: 200)', `l: leads(first: 200) { edges { node { id } } }`],
  ])('refuses 1,000 aliases of %s before running any', async (what, field) => {
    const fields = Array.from({ length: 1000 }, (_, index) => field.replace(/^(\w):/, `$1${index}:`)).join(' ');
    const figures = await refusedWhileCheapAnswers(`{ ${fields} }`);
    report(`1,000 aliases of ${what}`, figures);
    expect(['GRAPHQL_VALIDATION_FAILED', 'BAD_REQUEST']).toContain(codeOf(figures.refused));
    expect(figures.refusedMs).toBeLessThan(1_000);
  });

  it('estimates the same document again when its variables can change the cost', async () => {
    let selection = 'id';
    for (let level = 0; level < 3; level++) selection = `contacts { account { ${selection} } }`;
    const paged = `query($first: Int) { accounts(first: $first) { edges { node { ${selection} } } } }`;
    expect((await api.gql(paged, { first: 1 })).errors).toBeUndefined();
    expect(codeOf(await api.gql(paged, { first: 200 }))).toBe('QUERY_TOO_COSTLY');
    // Each cost is kept for its values: asked again, in any order, each request is judged as at
    // first. Left out, or null, `$first` is the default page, far more than one.
    expect(codeOf(await api.gql(paged, {}))).toBe('QUERY_TOO_COSTLY');
    expect(codeOf(await api.gql(paged, { first: null }))).toBe('QUERY_TOO_COSTLY');
    expect((await api.gql(paged, { first: 1 })).errors).toBeUndefined();
    expect(codeOf(await api.gql(paged, { first: 200 }))).toBe('QUERY_TOO_COSTLY');
    expect(codeOf(await api.gql(paged, {}))).toBe('QUERY_TOO_COSTLY');

    const included = `query($all: Boolean!) { accounts(first: 200) { edges { node { id ...@include(if: $all) { ${selection} } } } } }`;
    expect((await api.gql(included, { all: false })).errors).toBeUndefined();
    expect(codeOf(await api.gql(included, { all: true }))).toBe('QUERY_TOO_COSTLY');
    expect((await api.gql(included, { all: false })).errors).toBeUndefined();
  });

  it('refuses a few retrospectives that together cost too much, and allows one', async () => {
    const one = `retrospective(from: "2025-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { eventsReplayed }`;
    expect((await api.gql(`{ ${one} }`)).errors).toBeUndefined();
    const three = await api.gql(`{ a: ${one} b: ${one} c: ${one} }`);
    expect(codeOf(three)).toBe('QUERY_TOO_COSTLY');
  });

  it('answers an ordinary screen of the app normally', async () => {
    const response = await api.gql(`{ leads(first: 50) { totalCount edges { cursor node { id status person { lastName } company { name } } } }
      opportunities(first: 50) { edges { node { id name stage quotes { id status } activities { id done } } } }
      pipeline { stages { stage count amount { amount } } } }`);
    expect(response.errors).toBeUndefined();
  });
});

describe('one mutation per request', () => {
  it('refuses a document with two mutations before running either', async () => {
    const before = (await api.gql(`{ auditTrail(first: 0) { totalCount } }`)).data!.auditTrail.totalCount;
    const response = await api.gql(`mutation {
      a: captureLead(input: { source: OTHER, company: { name: "First" } }) { lead { id } }
      b: captureLead(input: { source: OTHER, company: { name: "" } }) { lead { id } } }`);
    expect(codeOf(response)).toBe('BAD_USER_INPUT');
    expect(response.errors![0]!.message).toMatch(/one mutation per request/);
    expect((await api.gql(`{ auditTrail(first: 0) { totalCount } }`)).data!.auditTrail.totalCount).toBe(before);
  });
});

describe('the input boundary', () => {
  const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`;
  const total = async () => (await api.gql(`{ auditTrail(first: 0) { totalCount } }`)).data!.auditTrail.totalCount;

  it.each([
    ['a NUL in the campaign', { source: 'OTHER', campaign: 'a\u0000b', company: { name: 'x' } }, '$input.campaign'],
    ['a lone surrogate in the idempotency key', { source: 'OTHER', company: { name: 'x' }, idempotencyKey: 'k\ud800' }, '$input.idempotencyKey'],
    ['a lone surrogate in an e-mail', { source: 'OTHER', person: { lastName: 'x', email: 'a\udc00@b.example' } }, '$input.person.email'],
  ])('refuses %s, naming the field, and writes nothing', async (_what, input, field) => {
    const before = await total();
    const response = await api.gql(CAPTURE, { input });
    expect(codeOf(response)).toBe('BAD_USER_INPUT');
    expect(response.errors![0]!.extensions!.fields).toEqual([expect.objectContaining({ field })]);
    expect(await total()).toBe(before);
  });

  it('refuses the same in a literal of the document', async () => {
    const response = await api.gql(`mutation { captureLead(input: { source: OTHER, campaign: "a\\u0000b", company: { name: "x" } }) { lead { id } } }`);
    expect(codeOf(response)).toBe('BAD_USER_INPUT');
    expect(response.errors![0]!.extensions!.fields[0].field).toBe('captureLead.input.campaign');
  });

  it('refuses an id that is not well formed without echoing it', async () => {
    const huge = 'x'.repeat(900_000);
    const response = await api.gql(`query($id: ID!) { lead(id: $id) { id } }`, { id: huge });
    expect(codeOf(response)).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(response).length).toBeLessThan(2_000);
    const spaced = await api.gql(`{ opportunity(id: "not an id") { id } }`);
    expect(codeOf(spaced)).toBe('BAD_USER_INPUT');
  });
});

describe('field suggestions', () => {
  it('are given in development and hidden in production', async () => {
    const development = await api.gql(`{ leadz { totalCount } }`);
    expect(development.errors![0]!.message).toMatch(/Did you mean/);
    const production = await startTestServer({ env: { NODE_ENV: 'production', LOG_LEVEL: 'silent' } });
    try {
      const response = await production.gql(`{ leadz { totalCount } }`);
      expect(codeOf(response)).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(response.errors![0]!.message).not.toMatch(/Did you mean|leads/);
    } finally {
      await production.stop();
    }
  });
});

describe('introspection', () => {
  it("answers a client's standard schema request, and refuses a cyclic one", async () => {
    const { getIntrospectionQuery } = await import('graphql');
    const standard = await api.gql(getIntrospectionQuery());
    expect(standard.errors).toBeUndefined();
    expect(standard.data!.__schema.queryType.name).toBe('Query');
    let selection = 'name';
    for (let level = 0; level < 12; level++) selection = `fields { type { ${selection} } }`;
    const cyclic = await api.gql(`{ __type(name: "Account") { ${selection} } }`);
    expect(['GRAPHQL_VALIDATION_FAILED', 'QUERY_TOO_COSTLY']).toContain(codeOf(cyclic));
    const viaSchema = await api.gql(`{ __schema { types { ${selection} } } }`);
    expect(['GRAPHQL_VALIDATION_FAILED', 'QUERY_TOO_COSTLY']).toContain(codeOf(viaSchema));
  });
});

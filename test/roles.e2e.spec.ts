/**
 * Every role against every operation of the schema: allowed exactly as the table in
 * src/graphql/shared/roles.ts (and README) says, FORBIDDEN with the required roles otherwise,
 * and a refused call writes nothing. The documents are generated from the schema itself, so an
 * operation added later is covered (and fails here until the table names its roles).
 */
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isNonNullType,
  type GraphQLArgument,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCrmSchema } from '../src/graphql/schema';
import { OPERATION_ROLES, ROLES } from '../src/graphql/shared/roles';
import { scoresSettled } from './support/scoring';
import { startTestServer, type TestServer } from './support/testServer';

let api: TestServer;
let schema: GraphQLSchema;
beforeAll(async () => {
  api = await startTestServer();
  schema = await buildCrmSchema();
});
afterAll(async () => {
  await api.stop();
});

const SAMPLE_ID = '00000000-0000-4000-8000-000000000000';

/**
 * A literal of the type, with every required member: enough to pass validation. An owner is the
 * caller itself, so that only the roles table, not ownership, decides.
 */
const literal = (type: GraphQLInputType, caller: string): string => {
  const named = getNamedType(type);
  if (isEnumType(named)) return named.getValues()[0]!.name;
  if (isInputObjectType(named)) {
    const fields = Object.values(named.getFields()).filter((field) => isNonNullType(field.type) || field.name === 'ownerId');
    return `{ ${fields.map((field) => `${field.name}: ${field.name === 'ownerId' ? JSON.stringify(caller) : literal(field.type, caller)}`).join(', ')} }`;
  }
  const byScalar: Record<string, string> = {
    ID: JSON.stringify(SAMPLE_ID),
    String: '"x"',
    Int: '1',
    Float: '1',
    Boolean: 'false',
    Decimal: '"1.00"',
    DateTime: '"2026-01-01T00:00:00Z"',
    Date: '"2026-01-01"',
    JSON: '{}',
  };
  const value = byScalar[named.name];
  if (value === undefined) throw new Error(`no sample literal for scalar ${named.name}`);
  return value;
};

const documentFor = (kind: 'query' | 'mutation', name: string, caller: string): string => {
  const root = kind === 'query' ? schema.getQueryType()! : schema.getMutationType()!;
  const field = root.getFields()[name]!;
  const required = field.args.filter((arg: GraphQLArgument) => isNonNullType(arg.type));
  const args = required.length ? `(${required.map((arg) => `${arg.name}: ${literal(arg.type, caller)}`).join(', ')})` : '';
  const selection = isLeafType(getNamedType(field.type)) ? '' : ' { __typename }';
  return `${kind} { ${name}${args}${selection} }`;
};

const operations = (): { kind: 'query' | 'mutation'; name: string }[] => [
  ...Object.keys(schema.getQueryType()!.getFields()).map((name) => ({ kind: 'query' as const, name })),
  ...Object.keys(schema.getMutationType()!.getFields()).map((name) => ({ kind: 'mutation' as const, name })),
];

const eventCount = async (): Promise<number> => {
  // The automatic scores of earlier writes (and a re-scoring job) land in the background: let them in first.
  await scoresSettled(api.server.app);
  const response = await api.gql(`{ auditTrail(first: 0) { totalCount } }`);
  expect(response.errors).toBeUndefined();
  return response.data!.auditTrail.totalCount;
};

describe('roles', () => {
  it('the table names the roles of every operation, and only of operations that exist', () => {
    // Subscriptions are in the table too; test/subscriptions.e2e.spec.ts runs them under every role.
    const subscriptions = Object.keys(schema.getSubscriptionType()?.getFields() ?? {});
    const names = [...operations().map((operation) => operation.name), ...subscriptions].sort();
    expect(Object.keys(OPERATION_ROLES).sort()).toEqual(names);
  });

  it.each([...ROLES, 'made-up', 'none'])('%s runs exactly what the table allows, and nothing refused is written', async (role) => {
    const roles = role === 'none' ? [] : [role];
    const before = await eventCount();
    for (const { kind, name } of operations()) {
      const allowed = name === 'me' || (OPERATION_ROLES[name] as readonly string[]).includes(role) || role === 'admin';
      const response = await api.gql(documentFor(kind, name, `user-${role}`), {}, { as: `user-${role}`, roles });
      const codes = (response.errors ?? []).map((error) => error.extensions?.code);
      if (allowed) {
        expect(codes, `${role} may run ${name}`).not.toContain('FORBIDDEN');
        expect(codes, `${name} is refused before running for a reason other than roles`).not.toContain('QUERY_TOO_COSTLY');
      } else {
        expect(codes, `${role} may not run ${name}`).toEqual(['FORBIDDEN']);
        expect(response.errors![0]!.extensions!.requiredRoles).toEqual(OPERATION_ROLES[name]);
        expect(response.data?.[name] ?? null).toBeNull();
      }
    }
    // Only the allowed mutations can have written anything; refused ones never reach a store.
    if (!['marketing', 'sales', 'sales_manager', 'admin'].includes(role)) expect(await eventCount()).toBe(before);
  });

  it('me answers any valid token with its sub, known roles and runnable operations', async () => {
    const response = await api.gql(`{ me { sub roles operations } }`, {}, { as: 'mia', roles: ['marketing', 'astronaut'] });
    expect(response.errors).toBeUndefined();
    expect(response.data!.me.sub).toBe('mia');
    expect(response.data!.me.roles).toEqual(['marketing']);
    expect(response.data!.me.operations).toContain('captureLead');
    expect(response.data!.me.operations).not.toContain('convertLead');
    const nobody = await api.gql(`{ me { roles operations } }`, {}, { as: 'nobody', roles: [] });
    expect(nobody.data!.me).toEqual({ roles: [], operations: ['me'] });
  });

  it('marketing reads the lead sections of the KPIs, not the sales figures', async () => {
    const period = `from: "2026-01-01T00:00:00Z", to: "2026-12-31T00:00:00Z"`;
    const leadSections = await api.gql(`{ kpis(${period}) { leadFunnel { captured } disqualificationReasons { total } } }`, {}, { as: 'mia', roles: ['marketing'] });
    expect(leadSections.errors).toBeUndefined();
    const salesFigures = await api.gql(`{ kpis(${period}) { lossReasons { total } } }`, {}, { as: 'mia', roles: ['marketing'] });
    expect(salesFigures.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(salesFigures.errors?.[0]?.extensions?.requiredRoles).toEqual(['sales', 'sales_manager', 'analyst', 'admin']);
  });
});

describe('ownership', () => {
  const as = (sub: string, role: string) => ({ as: sub, roles: [role] });
  const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id ownerId } } }`;
  const CONTACT = `mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { id revision } } }`;
  const ASSIGN = `mutation($input: AssignLeadInput!) { assignLead(input: $input) { lead { id ownerId } } }`;
  const QUALIFY = `mutation($input: QualifyLeadInput!) { qualifyLead(input: $input) { lead { id rank } } }`;
  const HISTORY = `query($id: ID!) { history(streamId: $id) { type } }`;
  const codeOf = (response: { errors?: any[] }) => response.errors?.[0]?.extensions?.code;
  const historyLength = async (streamId: string) => (await api.gql(HISTORY, { id: streamId })).data!.history.length;

  it('sales works unowned and own leads, takes an unowned one for itself, and cannot touch or take another owner\'s', async () => {
    const captured = await api.gql(CAPTURE, { input: { source: 'WEB_FORM', company: { name: 'Ownership Co' } } }, as('alice', 'sales'));
    const leadId = captured.data!.captureLead.lead.id;
    expect(captured.data!.captureLead.lead.ownerId).toBeNull();
    expect(codeOf(await api.gql(CONTACT, { input: { leadId, channel: 'CALL', outcome: 'NO_ANSWER' } }, as('bob', 'sales')))).toBeUndefined();
    expect(codeOf(await api.gql(ASSIGN, { input: { leadId, ownerId: 'bob' } }, as('alice', 'sales')))).toBe('FORBIDDEN');
    expect((await api.gql(ASSIGN, { input: { leadId, ownerId: 'alice' } }, as('alice', 'sales'))).data!.assignLead.lead.ownerId).toBe('alice');

    const before = await historyLength(`lead-${leadId}`);
    const bobs = await api.gql(CONTACT, { input: { leadId, channel: 'CALL', outcome: 'REACHED' } }, as('bob', 'sales'));
    expect(codeOf(bobs)).toBe('FORBIDDEN');
    expect(bobs.errors![0]!.extensions!.requiredRoles).toEqual(['marketing', 'sales_manager', 'admin']);
    expect(codeOf(await api.gql(ASSIGN, { input: { leadId, ownerId: 'bob' } }, as('bob', 'sales')))).toBe('FORBIDDEN');
    expect(await historyLength(`lead-${leadId}`)).toBe(before);

    // Marketing nurtures any lead; a manager reassigns.
    expect(codeOf(await api.gql(CONTACT, { input: { leadId, channel: 'EMAIL', outcome: 'REACHED' } }, as('mia', 'marketing')))).toBeUndefined();
    expect((await api.gql(ASSIGN, { input: { leadId, ownerId: 'bob' } }, as('sam', 'sales_manager'))).data!.assignLead.lead.ownerId).toBe('bob');
    expect(codeOf(await api.gql(CONTACT, { input: { leadId, channel: 'CALL', outcome: 'REACHED' } }, as('bob', 'sales')))).toBeUndefined();
    expect(codeOf(await api.gql(CONTACT, { input: { leadId, channel: 'CALL', outcome: 'REACHED' } }, as('alice', 'sales')))).toBe('FORBIDDEN');
  });

  it('marketing qualifies MQL but not SQL; sales gives no owner but itself', async () => {
    const leadId = (await api.gql(CAPTURE, { input: { source: 'TRADE_FAIR', company: { name: 'Rank Co' } } }, as('mia', 'marketing'))).data!
      .captureLead.lead.id;
    const criteria = { need: true, budget: true, authority: true, timing: true };
    expect((await api.gql(QUALIFY, { input: { leadId, rank: 'MQL', criteria } }, as('mia', 'marketing'))).data!.qualifyLead.lead.rank).toBe('MQL');
    const sql = await api.gql(QUALIFY, { input: { leadId, rank: 'SQL', criteria } }, as('mia', 'marketing'));
    expect(codeOf(sql)).toBe('FORBIDDEN');
    expect(sql.errors![0]!.extensions!.requiredRoles).toEqual(['sales', 'sales_manager', 'admin']);
    expect((await api.gql(QUALIFY, { input: { leadId, rank: 'SQL', criteria } }, as('alice', 'sales'))).data!.qualifyLead.lead.rank).toBe('SQL');
    const forOthers = await api.gql(CAPTURE, { input: { source: 'OTHER', company: { name: 'Gift Co' }, ownerId: 'bob' } }, as('alice', 'sales'));
    expect(codeOf(forOthers)).toBe('FORBIDDEN');
  });

  it('sales converts its own lead, not another owner\'s, and the refusal writes nothing', async () => {
    const CONVERT = `mutation($input: ConvertLeadInput!) { convertLead(input: $input) { lead { id status } } }`;
    const criteria = { need: true, budget: true, authority: true, timing: true };
    const leadId = (await api.gql(CAPTURE, { input: { source: 'REFERRAL', person: { lastName: 'Puig' }, company: { name: 'Converted Owner SL' }, ownerId: 'alice' } }, as('alice', 'sales'))).data!
      .captureLead.lead.id;
    expect(codeOf(await api.gql(QUALIFY, { input: { leadId, rank: 'SQL', criteria } }, as('alice', 'sales')))).toBeUndefined();
    const before = await historyLength(`lead-${leadId}`);
    const bobs = await api.gql(CONVERT, { input: { leadId } }, as('bob', 'sales'));
    expect(codeOf(bobs)).toBe('FORBIDDEN');
    expect(await historyLength(`lead-${leadId}`)).toBe(before);
    const alices = await api.gql(CONVERT, { input: { leadId } }, as('alice', 'sales'));
    expect(alices.errors).toBeUndefined();
    expect(alices.data!.convertLead.lead.status).toBe('CONVERTED');
  });

  it('sales cannot change another owner\'s account or opportunity; its own it can', async () => {
    const OPEN_ACCOUNT = `mutation($input: OpenAccountInput!) { openAccount(input: $input) { account { id ownerId } } }`;
    const UPDATE_ACCOUNT = `mutation($input: UpdateAccountInput!) { updateAccount(input: $input) { account { id name } } }`;
    const OPEN = `mutation($input: OpenOpportunityInput!) { openOpportunity(input: $input) { opportunity { id ownerId } } }`;
    const CLOSE = `mutation($input: CloseOpportunityInput!) { closeOpportunity(input: $input) { opportunity { id status } } }`;
    const accountId = (await api.gql(OPEN_ACCOUNT, { input: { kind: 'COMPANY', name: 'Owned Account SL' } }, as('alice', 'sales'))).data!
      .openAccount.account.id;
    expect(codeOf(await api.gql(UPDATE_ACCOUNT, { input: { accountId, name: 'Taken SL' } }, as('bob', 'sales')))).toBe('FORBIDDEN');
    expect(codeOf(await api.gql(UPDATE_ACCOUNT, { input: { accountId, name: 'Owned Account SA' } }, as('alice', 'sales')))).toBeUndefined();
    const opportunityId = (await api.gql(OPEN, { input: { accountId, name: 'Shop refit' } }, as('alice', 'sales'))).data!.openOpportunity
      .opportunity.id;
    const before = await historyLength(`opportunity-${opportunityId}`);
    expect(codeOf(await api.gql(CLOSE, { input: { opportunityId, outcome: 'LOST', lossReason: 'PRICE' } }, as('bob', 'sales')))).toBe('FORBIDDEN');
    expect(await historyLength(`opportunity-${opportunityId}`)).toBe(before);
    expect((await api.gql(CLOSE, { input: { opportunityId, outcome: 'LOST', lossReason: 'PRICE' } }, as('sam', 'sales_manager'))).data!
      .closeOpportunity.opportunity.status).toBe('LOST');
  });
});

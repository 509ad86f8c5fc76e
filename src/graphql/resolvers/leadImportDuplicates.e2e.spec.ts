/**
 * An import asks who its rows may be for all of a request's rows at once
 * (`findPossibleDuplicatesOfMany`), where a captured lead asks for itself alone
 * (`findPossibleDuplicates`). These tests hold the two to the same answer, candidates and order,
 * where the batched queries could part from the single one: more look-alikes than the 20
 * answered, a lead that is the row's own, contacts by e-mail and by name at their company,
 * closed leads left out, and rows of one request sharing a key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { id } } }`;
const DISQUALIFY = `mutation($input: DisqualifyLeadInput!) { disqualifyLead(input: $input) { lead { id } } }`;
const OPEN_ACCOUNT = `mutation($input: OpenAccountInput!) { openAccount(input: $input) { account { id } } }`;
const CREATE_CONTACT = `mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } } }`;
const IMPORT = `mutation($input: ImportLeadsInput!) { importLeads(input: $input) {
  results { index outcome leadId duplicates { kind id matchedOn } } } }`;
const LEAD = `query($id: ID!) { lead(id: $id) { possibleDuplicates { kind id matchedOn } } }`;

const tag = Date.now();
const ok = async (query: string, input: Record<string, unknown>) => {
  const response = await api.gql(query, { input });
  expect(response.errors).toBeUndefined();
  return response.data!;
};
const capture = async (person: Record<string, unknown>, company?: Record<string, unknown>) =>
  (await ok(CAPTURE, { source: 'WEB_FORM', person, ...(company ? { company } : {}) })).captureLead.lead.id as string;

describe('importLeads: who a row may be', () => {
  it('names the same candidates, in the same order, as the lead it captured names for itself', async () => {
    // 23 open leads share one e-mail, more than the 20 candidates answered; one more is closed.
    const crowd = `crowd-${tag}@example.com`;
    for (let n = 0; n < 23; n++) await capture({ lastName: `Crowd ${n}`, email: crowd });
    await ok(DISQUALIFY, { leadId: await capture({ lastName: 'Closed', email: crowd }), reason: 'NO_BUDGET' });
    // Leads by name at a company, and a contact by e-mail and another by name at its account.
    const company = `Serra ${tag} SL`;
    await capture({ firstName: 'Laia', lastName: 'Serra' }, { name: company });
    await capture({ firstName: 'LAIA', lastName: 'serra' }, { name: `serra ${tag} s.l.` });
    const accountId = (await ok(OPEN_ACCOUNT, { kind: 'COMPANY', name: company })).openAccount.account.id;
    await ok(CREATE_CONTACT, { lastName: 'Serra', firstName: 'Laia', accountId });
    await ok(CREATE_CONTACT, { lastName: 'Vives', email: `vives-${tag}@example.com` });
    await capture({ lastName: 'Vives', email: `VIVES-${tag}@example.com` });

    const rows = [
      { idempotencyKey: `crowd-${tag}`, source: 'TRADE_FAIR', person: { lastName: 'One more', email: crowd } },
      { idempotencyKey: `serra-${tag}`, source: 'TRADE_FAIR', person: { firstName: 'Laia', lastName: 'Serra', email: `laia-${tag}@example.com` }, company: { name: company } },
      { idempotencyKey: `vives-${tag}`, source: 'TRADE_FAIR', person: { lastName: 'Vives', email: `vives-${tag}@example.com` } },
      { idempotencyKey: `nobody-${tag}`, source: 'TRADE_FAIR', person: { lastName: `Nobody ${tag}` } },
    ];
    const imported = (await ok(IMPORT, { rows })).importLeads.results as { outcome: string; leadId: string; duplicates: unknown[] }[];
    expect(imported.map((row) => row.outcome)).toEqual(['CREATED', 'CREATED', 'CREATED', 'CREATED']);
    expect(imported[0]!.duplicates).toHaveLength(20);
    expect(imported[1]!.duplicates).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'CONTACT', matchedOn: 'NAME_AND_COMPANY' })]));
    expect(imported[2]!.duplicates).toEqual(expect.arrayContaining([{ kind: 'CONTACT', id: expect.any(String), matchedOn: 'EMAIL' }]));
    expect(imported[3]!.duplicates).toEqual([]);
    // No row of this request shares a key with another: each lead, read now, names what its row did.
    for (const row of imported) {
      expect((await api.gql(LEAD, { id: row.leadId })).data!.lead.possibleDuplicates).toEqual(row.duplicates);
    }

    // Again: each row is its own lead, never its own candidate, and the answer is the same.
    const again = (await ok(IMPORT, { rows })).importLeads.results as { outcome: string; duplicates: unknown[] }[];
    expect(again.map((row) => row.outcome)).toEqual(['ALREADY_IMPORTED', 'ALREADY_IMPORTED', 'ALREADY_IMPORTED', 'ALREADY_IMPORTED']);
    expect(again.map((row) => row.duplicates)).toEqual(imported.map((row) => row.duplicates));
  });

  it('a row that repeats an earlier row of the request is captured once, and names the earlier one', async () => {
    const row = { idempotencyKey: `twice-${tag}`, source: 'WEB_FORM', person: { lastName: 'Twice', email: `twice-${tag}@example.com` } };
    const other = { ...row, idempotencyKey: `twice-other-${tag}`, person: { lastName: 'Twice too', email: `twice-${tag}@example.com` } };
    const results = (await ok(IMPORT, { rows: [row, row, other] })).importLeads.results as { outcome: string; leadId: string; duplicates: unknown[] }[];
    expect(results.map((result) => result.outcome)).toEqual(['CREATED', 'ALREADY_IMPORTED', 'CREATED']);
    expect(results[1]!.leadId).toBe(results[0]!.leadId);
    expect(results[2]!.duplicates).toEqual([{ kind: 'LEAD', id: results[0]!.leadId, matchedOn: 'EMAIL' }]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) {
  lead { id possibleDuplicates { kind id matchedOn } } } }`;
const LEAD = `query($id: ID!) { lead(id: $id) { id possibleDuplicates { kind id matchedOn } } }`;
const DISQUALIFY = `mutation($input: DisqualifyLeadInput!) { disqualifyLead(input: $input) { lead { id } } }`;
const CREATE_CONTACT = `mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } } }`;
const IMPORT = `mutation($input: ImportLeadsInput!) { importLeads(input: $input) {
  created duplicatesSkipped results { index outcome leadId duplicates { kind id matchedOn } } } }`;

const tag = Date.now();
const capture = async (person: Record<string, unknown>, company?: Record<string, unknown>) => {
  const response = await api.gql(CAPTURE, { input: { source: 'WEB_FORM', person, ...(company ? { company } : {}) } });
  expect(response.errors).toBeUndefined();
  return response.data!.captureLead.lead as { id: string; possibleDuplicates: { kind: string; id: string; matchedOn: string }[] };
};

describe('possible duplicates', () => {
  it('a lead with a known e-mail, or the same name at the same company, is captured and names its candidates', async () => {
    const first = await capture({ firstName: 'Núria', lastName: 'Ferrer', email: `nuria-${tag}@ferrer.example` }, { name: `Ferrer ${tag} S.L.` });
    expect(first.possibleDuplicates).toEqual([]);

    const sameEmail = await capture({ lastName: 'N. Ferrer', email: `NURIA-${tag}@Ferrer.example` });
    expect(sameEmail.possibleDuplicates).toEqual([{ kind: 'LEAD', id: first.id, matchedOn: 'EMAIL' }]);

    const sameNameAndCompany = await capture({ firstName: 'nuria', lastName: 'FERRER' }, { name: `Ferrer ${tag} SL` });
    expect(sameNameAndCompany.possibleDuplicates).toEqual([{ kind: 'LEAD', id: first.id, matchedOn: 'NAME_AND_COMPANY' }]);

    // The first lead now sees both later ones; a closed lead is no longer a candidate.
    expect((await api.gql(LEAD, { id: first.id })).data!.lead.possibleDuplicates.map((c: any) => c.id).sort()).toEqual(
      [sameEmail.id, sameNameAndCompany.id].sort(),
    );
    await api.gql(DISQUALIFY, { input: { leadId: sameEmail.id, reason: 'NO_BUDGET' } });
    expect((await api.gql(LEAD, { id: first.id })).data!.lead.possibleDuplicates).toEqual([
      { kind: 'LEAD', id: sameNameAndCompany.id, matchedOn: 'NAME_AND_COMPANY' },
    ]);
  });

  it('a contact with the same e-mail is a candidate', async () => {
    const contact = (await api.gql(CREATE_CONTACT, { input: { lastName: 'Casals', email: `casals-${tag}@example.com` } })).data!.createContact.contact;
    const lead = await capture({ lastName: 'Casals', email: `casals-${tag}@example.com` });
    expect(lead.possibleDuplicates).toEqual([{ kind: 'CONTACT', id: contact.id, matchedOn: 'EMAIL' }]);
  });

  it('an import with skipDuplicates leaves out known people and repeated rows, and imports the rest', async () => {
    const known = await capture({ lastName: 'Known', email: `known-${tag}@example.com` });
    const rows = [
      { idempotencyKey: `d1-${tag}`, source: 'TRADE_FAIR', person: { lastName: 'Known again', email: `known-${tag}@example.com` } },
      { idempotencyKey: `d2-${tag}`, source: 'TRADE_FAIR', person: { lastName: 'New', email: `new-${tag}@example.com` } },
      { idempotencyKey: `d3-${tag}`, source: 'TRADE_FAIR', person: { lastName: 'New twice', email: `new-${tag}@example.com` } },
    ];
    const skipped = (await api.gql(IMPORT, { input: { rows, skipDuplicates: true } })).data!.importLeads;
    expect(skipped).toMatchObject({ created: 1, duplicatesSkipped: 2 });
    expect(skipped.results.map((r: any) => r.outcome)).toEqual(['DUPLICATE_SKIPPED', 'CREATED', 'DUPLICATE_SKIPPED']);
    expect(skipped.results[0].duplicates).toEqual([{ kind: 'LEAD', id: known.id, matchedOn: 'EMAIL' }]);
    expect(skipped.results[2].duplicates).toEqual([{ kind: 'LEAD', id: skipped.results[1].leadId, matchedOn: 'EMAIL' }]);

    // Run again: the imported row is its own lead, not a duplicate of itself.
    const again = (await api.gql(IMPORT, { input: { rows, skipDuplicates: true } })).data!.importLeads;
    expect(again.results.map((r: any) => r.outcome)).toEqual(['DUPLICATE_SKIPPED', 'ALREADY_IMPORTED', 'DUPLICATE_SKIPPED']);

    // Without skipDuplicates the rows are captured and say who they may be.
    const kept = (await api.gql(IMPORT, { input: { rows: [{ ...rows[0], idempotencyKey: `d4-${tag}` }] } })).data!.importLeads;
    expect(kept.results[0]).toMatchObject({ outcome: 'CREATED', duplicates: [{ kind: 'LEAD', id: known.id, matchedOn: 'EMAIL' }] });
  });
});

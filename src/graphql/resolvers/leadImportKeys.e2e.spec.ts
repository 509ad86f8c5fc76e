/**
 * An imported row's lead is named after the row's idempotency key, and its own `LeadCaptured`
 * records the key's first use (no `IdempotencyKeyUsed` beside it): these tests hold a key to
 * what the API promises for every key, through `importLeads`, on each store.
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

const IMPORT = `mutation($input: ImportLeadsInput!) { importLeads(input: $input) {
  created alreadyImported rejected results { index outcome leadId code errors { field message } } } }`;
const LEAD = `query($id: ID!) { lead(id: $id) { person { lastName } } }`;
const HISTORY = `query($streamId: ID!) { history(streamId: $streamId) { type } }`;
const EVENTS = `query($filter: AuditFilter) { auditTrail(filter: $filter, first: 50) { edges { node { type streamId } } } }`;

const tag = Date.now();
const importRows = async (rows: Record<string, unknown>[]) => {
  const response = await api.gql(IMPORT, { input: { rows } }, { as: 'mia', roles: ['marketing'] });
  expect(response.errors).toBeUndefined();
  return response.data!.importLeads;
};

describe('importLeads: a row’s idempotency key', () => {
  it('is bound to the row’s content: reused with other content it is refused in that row’s result, and the lead keeps the first', async () => {
    const key = `fair-${tag}`;
    const first = await importRows([{ idempotencyKey: key, source: 'TRADE_FAIR', person: { lastName: 'Prat' } }]);
    expect(first).toMatchObject({ created: 1, rejected: 0 });
    const leadId = first.results[0].leadId as string;

    const other = await importRows([
      { idempotencyKey: key, source: 'TRADE_FAIR', person: { lastName: 'Not Prat' } },
      { idempotencyKey: `${key}-new`, source: 'TRADE_FAIR', person: { lastName: 'Puig' } },
    ]);
    expect(other).toMatchObject({ created: 1, rejected: 1 });
    expect(other.results[0]).toMatchObject({ outcome: 'REJECTED', code: 'BAD_USER_INPUT', errors: [{ field: 'idempotencyKey', message: expect.any(String) }] });
    expect((await api.gql(LEAD, { id: leadId })).data!.lead.person.lastName).toBe('Prat');
    expect((await api.gql(HISTORY, { streamId: `lead-${leadId}` })).data!.history.map((event: { type: string }) => event.type)).toEqual(['LeadCaptured']);

    // The same content again is the same lead, already imported.
    const again = await importRows([{ idempotencyKey: key, source: 'TRADE_FAIR', person: { lastName: 'Prat' } }]);
    expect(again.results[0]).toMatchObject({ outcome: 'ALREADY_IMPORTED', leadId });
  });

  it('is recorded by the lead’s own event: an import stores one event per row', async () => {
    const rows = [1, 2, 3].map((n) => ({ idempotencyKey: `one-event-${n}-${tag}`, source: 'WEB_FORM', campaign: `one-event-${tag}`, person: { lastName: `Row ${n}` } }));
    const imported = await importRows(rows);
    expect(imported.created).toBe(3);
    const recorded = (await api.gql(EVENTS, { filter: { actor: 'mia', types: ['LeadCaptured', 'IdempotencyKeyUsed'] } })).data!.auditTrail.edges.map(
      (edge: { node: { type: string; streamId: string } }) => edge.node,
    );
    const mine = recorded.filter((event: { type: string; streamId: string }) => imported.results.some((row: { leadId: string }) => event.streamId === `lead-${row.leadId}`) || event.type === 'IdempotencyKeyUsed');
    expect(mine.map((event: { type: string }) => event.type)).toEqual(['LeadCaptured', 'LeadCaptured', 'LeadCaptured']);
  });
});

/**
 * Idempotency keys over HTTP, on SQLite and on PostgreSQL: a key is bound to the first request
 * that used it. Reusing one's own key on another entity is BAD_USER_INPUT (it used to be a
 * CONFLICT that no expectedRevision could clear), the same request again answers as it did the
 * first time, and the technical record of the key is in the audit trail but in no read model.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../test/support/testServer';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const LEAD_FIELDS = 'id revision status contactAttempts lastContactOutcome updatedAt';
const CAPTURE = `mutation($input: CaptureLeadInput!) { captureLead(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const LOG_CONTACT = `mutation($input: LogLeadContactInput!) { logLeadContact(input: $input) { lead { ${LEAD_FIELDS} } } }`;
const HISTORY = `query($streamId: ID!) { history(streamId: $streamId) { type causationId } }`;
const TRAIL = `query($filter: AuditFilter) { auditTrail(filter: $filter, first: 50) {
  edges { node { type streamId actor idempotencyKey inputHash causationId } } } }`;

const captured = async (lastName: string): Promise<string> => {
  const response = await api.gql(CAPTURE, { input: { source: 'WEB_FORM', person: { lastName } } });
  expect(response.errors).toBeUndefined();
  return response.data!.captureLead.lead.id as string;
};

const historyOf = async (leadId: string): Promise<string[]> => {
  const response = await api.gql(HISTORY, { streamId: `lead-${leadId}` });
  expect(response.errors).toBeUndefined();
  return response.data!.history.map((event: { type: string }) => event.type);
};

const expectKeyRefused = (response: { errors?: Array<{ extensions?: Record<string, any> }> }) =>
  expect(response.errors?.[0]?.extensions).toMatchObject({
    code: 'BAD_USER_INPUT',
    fields: [{ field: 'input.idempotencyKey' }],
  });

describe('an idempotency key reused on another entity', () => {
  it('is BAD_USER_INPUT, with or without the right expectedRevision, and records nothing on it', async () => {
    const [leadA, leadB] = [await captured('Abril'), await captured('Bosch')];
    const key = `call-${randomUUID()}`;
    const first = await api.gql(LOG_CONTACT, { input: { leadId: leadA, channel: 'CALL', outcome: 'REACHED', idempotencyKey: key } });
    expect(first.errors).toBeUndefined();

    const onB = { leadId: leadB, channel: 'CALL', outcome: 'REACHED', idempotencyKey: key };
    expectKeyRefused(await api.gql(LOG_CONTACT, { input: onB }));
    expectKeyRefused(await api.gql(LOG_CONTACT, { input: { ...onB, expectedRevision: 0 } }));
    expectKeyRefused(await api.gql(LOG_CONTACT, { input: { ...onB, expectedRevision: 3 } }));
    expect(await historyOf(leadB)).toEqual(['LeadCaptured']);

    // B itself is fine: a new key is accepted at once.
    const fresh = await api.gql(LOG_CONTACT, { input: { ...onB, idempotencyKey: `call-${randomUUID()}`, expectedRevision: 0 } });
    expect(fresh.errors).toBeUndefined();
    expect(fresh.data!.logLeadContact.lead).toMatchObject({ id: leadB, revision: 1, status: 'CONTACTED' });
  });

  it('a plain retry still answers the original result and records nothing new', async () => {
    const leadId = await captured('Coll');
    const input = { leadId, channel: 'CALL', outcome: 'REACHED', idempotencyKey: `call-${randomUUID()}` };
    const once = await api.gql(LOG_CONTACT, { input });
    const twice = await api.gql(LOG_CONTACT, { input });
    expect(once.errors).toBeUndefined();
    expect(twice.data).toEqual(once.data);
    expect(await historyOf(leadId)).toEqual(['LeadCaptured', 'LeadContactLogged']);
  });

  it('concurrent identical requests on one instance all answer the same, recorded once', async () => {
    const leadId = await captured('Duran');
    const input = { leadId, channel: 'EMAIL', outcome: 'NO_ANSWER', idempotencyKey: `mail-${randomUUID()}` };
    const responses = await Promise.all(Array.from({ length: 10 }, () => api.gql(LOG_CONTACT, { input })));
    for (const response of responses) expect(response.errors).toBeUndefined();
    expect(new Set(responses.map((response) => JSON.stringify(response.data))).size).toBe(1);
    expect(await historyOf(leadId)).toEqual(['LeadCaptured', 'LeadContactLogged']);
  });

  it('concurrent requests with one key and different inputs on one instance: one applied, the others refused', async () => {
    const leadId = await captured('Esteve');
    const key = `call-${randomUUID()}`;
    const notes = Array.from({ length: 6 }, (_, n) => `note ${n}`);
    const responses = await Promise.all(
      notes.map((note) => api.gql(LOG_CONTACT, { input: { leadId, channel: 'CALL', outcome: 'NO_ANSWER', notes: note, idempotencyKey: key } })),
    );
    expect(responses.filter((response) => response.errors === undefined)).toHaveLength(1);
    for (const response of responses.filter((r) => r.errors !== undefined)) expectKeyRefused(response);
    expect(await historyOf(leadId)).toEqual(['LeadCaptured', 'LeadContactLogged']);
  });

  it('shows the key\'s first use in the audit trail, and in no read model', async () => {
    const actor = `auditor-test-${randomUUID().slice(0, 8)}`;
    const response = await api.gql(
      CAPTURE,
      { input: { source: 'WEB_FORM', person: { lastName: 'Ferrer' }, idempotencyKey: 'form-1' } },
      { as: actor },
    );
    expect(response.errors).toBeUndefined();
    const leadId = response.data!.captureLead.lead.id as string;
    const trail = await api.gql(TRAIL, { filter: { actor } });
    expect(trail.errors).toBeUndefined();
    const nodes = trail.data!.auditTrail.edges.map((edge: { node: Record<string, string> }) => edge.node);
    expect(nodes.map((node: Record<string, string>) => node.type)).toEqual(['IdempotencyKeyUsed', 'LeadCaptured']);
    const [keyUse, capture] = nodes;
    expect(keyUse.streamId).toBe(`idempotency-${capture.causationId}`);
    expect(keyUse).toMatchObject({ idempotencyKey: 'form-1', inputHash: capture.inputHash, causationId: capture.causationId });
    expect(capture.streamId).toBe(`lead-${leadId}`);

    const listed = await api.gql(`query($id: ID!) { lead(id: $id) { id revision } }`, { id: leadId });
    expect(listed.data!.lead).toEqual({ id: leadId, revision: 0 });
  });
});

/**
 * A mutation answers the entity as its own write left it: `revision` is the revision of its own
 * event (the one to send back as `expectedRevision`), and every field is what the read model
 * showed at that revision, even when other writers came right after (concurrent requests) or
 * when the answer is the replay of a key used long before. On SQLite and on PostgreSQL.
 *
 * The reference for "what the read model showed at that revision" is built here, independently
 * of the code under test: every event of the log up to the position of the mutation's own event
 * is applied by the real projections to a private database, and the row read from it is mapped
 * with the resolvers' own mappers, then compared field by field with the answer.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoresSettled } from '../../../test/support/scoring';
import { startTestServer, type GraphQLResponse, type TestServer } from '../../../test/support/testServer';
import { accountsProjection, getAccount } from '../../../projections/accounts/accountsReadModel';
import { contactsProjection, getContact } from '../../../projections/contacts/contactsReadModel';
import { leadsProjection } from '../../../projections/leads/leadsProjection';
import { getLead } from '../../../projections/leads/leadView';
import { opportunitiesProjection } from '../../../projections/opportunities/opportunitiesProjection';
import { activitiesOf, getOpportunity, quotesOf, stageHistoryOf } from '../../../projections/opportunities/opportunitiesQueries';
import { openSqliteDatabase, type SqlDatabase } from '../../../projections/sqlDatabase';
import type { RecordedEvent } from '../../core/eventStore';
import { leadStreamId } from '../../domain/leads/lead';
import type { GraphQLContext } from '../shared/context';
import { toAccount } from '../types/accounts';
import { toContact } from '../types/contacts';
import { toLead } from './leads';
import { toOpportunity } from './opportunities';

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api.stop();
});

const LEAD_FIELDS = `id revision status rank source campaign ownerId cycle contactAttempts quoteRequests
  lastContactedAt lastContactOutcome capturedAt capturedBy updatedAt score
  person { firstName lastName email jobTitle phone } company { name website size }
  qualification { rank notes qualifiedAt criteria { need budget authority timing } }
  conversion { accountId contactId opportunityId convertedAt convertedBy }`;
const ACCOUNT_FIELDS = `id revision kind status name website domain phone industry size ownerId fromLeadId
  createdAt createdBy updatedAt address { street city postalCode region country }`;
const CONTACT_FIELDS = `id revision firstName lastName email phone jobTitle accountId ownerId active deactivationReason
  fromLeadId createdAt createdBy updatedAt`;
const OPPORTUNITY_FIELDS = `id revision status name accountId contactId stage stageLabel probability expectedCloseDate
  ownerId fromLeadId amount { amount currency } weightedAmount { amount currency } openedAt openedBy updatedAt
  stageEnteredAt closedAt closeNotes lossReason { code label } competitor reopenedAt reopenReason
  quotes { id status amount { amount currency } validUntil description addedAt addedBy statusChangedAt }
  activities { id kind subject dueAt notes done completedAt completionNotes scheduledAt scheduledBy }
  stageHistory { stage probability enteredAt leftAt }`;

const mutation = (name: string, entity: string, fields: string, extra = '') =>
  `mutation($input: ${name[0]!.toUpperCase()}${name.slice(1)}Input!) { ${name}(input: $input) { ${entity} { ${fields} } ${extra} } }`;
const CAPTURE = mutation('captureLead', 'lead', LEAD_FIELDS);
const LOG_CONTACT = mutation('logLeadContact', 'lead', LEAD_FIELDS);
const UPDATE_LEAD = mutation('updateLeadDetails', 'lead', LEAD_FIELDS);
const QUALIFY = mutation('qualifyLead', 'lead', LEAD_FIELDS);
const OPEN_ACCOUNT = mutation('openAccount', 'account', ACCOUNT_FIELDS);
const ENGAGE = mutation('engageContact', 'lead', LEAD_FIELDS);
const CREATE_CONTACT_ID = mutation('createContact', 'contact', 'id');
const UPDATE_ACCOUNT = mutation('updateAccount', 'account', ACCOUNT_FIELDS);
const CREATE_CONTACT = mutation('createContact', 'contact', CONTACT_FIELDS);
const UPDATE_CONTACT = mutation('updateContact', 'contact', CONTACT_FIELDS);
const DEACTIVATE_CONTACT = mutation('deactivateContact', 'contact', CONTACT_FIELDS);
const OPEN_OPPORTUNITY = mutation('openOpportunity', 'opportunity', OPPORTUNITY_FIELDS);
const UPDATE_OPPORTUNITY = mutation('updateOpportunity', 'opportunity', OPPORTUNITY_FIELDS);
const MOVE_STAGE = mutation('moveOpportunityStage', 'opportunity', OPPORTUNITY_FIELDS);
const ADD_QUOTE = mutation('addQuote', 'opportunity', OPPORTUNITY_FIELDS);
const CLOSE = mutation('closeOpportunity', 'opportunity', 'id status');
const REOPEN = mutation('reopenOpportunity', 'opportunity', 'id status');
const COMPLETE_ACTIVITY = mutation('completeActivity', 'opportunity', 'id revision');
/** Without the opportunity's activity list, which the read model answers live on the fast path. */
const SCHEDULE = mutation(
  'scheduleActivity',
  'opportunity',
  OPPORTUNITY_FIELDS.replace(/activities \{[^}]*\}/, ''),
  'activity { id kind subject notes }',
);
const SCHEDULE_WITH_LIST = mutation('scheduleActivity', 'opportunity', OPPORTUNITY_FIELDS, 'activity { id subject }');
const CONVERT = `mutation($input: ConvertLeadInput!) { convertLead(input: $input) {
  lead { ${LEAD_FIELDS} } account { ${ACCOUNT_FIELDS} } contact { ${CONTACT_FIELDS} } opportunity { ${OPPORTUNITY_FIELDS} } } }`;
const HISTORY = `query($streamId: ID!) { history(streamId: $streamId) { id revision position idempotencyKey causationId type } }`;

type Payload = Record<string, any>;

/** Sends a mutation that must succeed, and returns its payload. */
const ok = async (query: string, input: Record<string, unknown>): Promise<Payload> => {
  const response = await api.gql(query, { input });
  expect(response.errors).toBeUndefined();
  return Object.values(response.data!)[0] as Payload;
};

const all = <T>(count: number, send: (index: number) => Promise<T>): Promise<T[]> =>
  Promise.all(Array.from({ length: count }, (_, index) => send(index)));

const payloadsOf = (responses: GraphQLResponse[]): Payload[] =>
  responses.map((response) => {
    expect(response.errors).toBeUndefined();
    return Object.values(response.data!)[0] as Payload;
  });

interface HistoryEvent {
  id: string;
  revision: number;
  position: string;
  idempotencyKey: string | null;
  causationId: string;
  type: string;
}

const historyOf = async (streamId: string): Promise<HistoryEvent[]> => {
  const response = await api.gql(HISTORY, { streamId });
  expect(response.errors).toBeUndefined();
  return response.data!.history;
};

/** The event a keyed command recorded on the stream (its last, should it have written several). */
const eventOfKey = (history: HistoryEvent[], key: string): HistoryEvent => {
  const event = history.filter((candidate) => candidate.idempotencyKey === key).at(-1);
  expect(event, `no event with key ${key}`).toBeDefined();
  return event!;
};

// ---------------------------------------------------------------------------------------------
// The reference: the read models as they stood at a position of the log.

const PROJECTIONS = [leadsProjection, accountsProjection, contactsProjection, opportunitiesProjection];

const readModelsAt = async (position: string): Promise<SqlDatabase> => {
  const { store } = api.server.app;
  const events: RecordedEvent[] = (await store.readAll()).filter((event) => store.comparePositions(event.position, position) <= 0);
  const db = openSqliteDatabase(':memory:');
  for (const projection of PROJECTIONS) await projection.setup(db);
  for (const event of events) {
    for (const projection of PROJECTIONS) if (projection.canHandle.includes(event.type)) await projection.apply(db, event);
  }
  return db;
};

const context = () => ({ app: api.server.app }) as unknown as GraphQLContext;
const asJson = (value: unknown): any => JSON.parse(JSON.stringify(value ?? null));

type Entity = 'lead' | 'account' | 'contact' | 'opportunity';

/** The entity as the read model at `position` shows it, mapped as GraphQL maps it. */
const expectedAt = async (entity: Entity, id: string, position: string): Promise<any> => {
  const db = await readModelsAt(position);
  try {
    switch (entity) {
      case 'lead': {
        const view = await getLead(db, id);
        return view && asJson(toLead(view, context()));
      }
      case 'account': {
        const view = await getAccount(db, id);
        return view && asJson(toAccount(view));
      }
      case 'contact': {
        const view = await getContact(db, id);
        return view && asJson(toContact(view));
      }
      case 'opportunity': {
        const view = await getOpportunity(db, id);
        if (!view) return undefined;
        const [quotes, activities, stageHistory] = await Promise.all([quotesOf(db, id), activitiesOf(db, id), stageHistoryOf(db, id)]);
        return asJson({ ...toOpportunity(view, context()), quotes, activities, stageHistory });
      }
    }
  } finally {
    await db.close();
  }
};

/** `expected` cut to the fields the answer selected (an absent value is null, as GraphQL says it). */
const shapedLike = (answer: any, expected: any): any => {
  if (Array.isArray(answer)) {
    if (!Array.isArray(expected)) return expected ?? null;
    return expected.map((item, index) => shapedLike(answer[index] ?? answer[0], item));
  }
  if (answer !== null && typeof answer === 'object') {
    if (expected === null || expected === undefined || typeof expected !== 'object') return expected ?? null;
    return Object.fromEntries(Object.keys(answer).map((key) => [key, shapedLike(answer[key], expected[key])]));
  }
  return expected ?? null;
};

/** Field by field: the answer is the entity as the read model showed it right after `event`. */
const expectEntityAt = async (entity: Entity, answer: Payload, event: HistoryEvent) => {
  expect(answer.revision).toBe(event.revision);
  const expected = await expectedAt(entity, answer.id, event.position);
  expect(expected, `${entity} ${answer.id} at ${event.position}`).toBeDefined();
  expect(answer).toEqual(shapedLike(answer, expected));
};

/**
 * `count` keyed commands sent at once on one entity: each answers a distinct revision, the one
 * of its own event, with the fields of that revision; replayed afterwards, each answers the same.
 */
const expectConcurrentCommandsAnswerTheirOwnRevision = async (
  entity: Entity,
  streamId: string,
  query: string,
  inputOf: (index: number, key: string) => Record<string, unknown>,
  count = 10,
) => {
  const keys = Array.from({ length: count }, () => `concurrent-${randomUUID()}`);
  const payloads = payloadsOf(await all(count, (index) => api.gql(query, { input: inputOf(index, keys[index]!) })));
  const answers = payloads.map((payload) => payload[entity] as Payload);
  expect(new Set(answers.map((answer) => answer.revision)).size).toBe(count);
  const history = await historyOf(streamId);
  for (const [index, answer] of answers.entries()) await expectEntityAt(entity, answer, eventOfKey(history, keys[index]!));

  const replays = payloadsOf(await all(count, (index) => api.gql(query, { input: inputOf(index, keys[index]!) })));
  expect(replays).toEqual(payloads);
  return payloads;
};

/**
 * Runs `mutation`, and lets `other` run to completion right after the mutation's own write is in
 * the read models and before the mutation reads them: another writer coming in between,
 * deterministically, as concurrent requests do by chance.
 */
const withWriteInBetween = async <T>(mutation: () => Promise<T>, other: () => Promise<unknown>): Promise<T> => {
  const readModels = api.server.app.readModels;
  const waitForPosition = readModels.waitForPosition;
  let pending: (() => Promise<unknown>) | undefined = other;
  readModels.waitForPosition = async (...args: Parameters<typeof waitForPosition>) => {
    await waitForPosition.apply(readModels, args);
    const next = pending;
    pending = undefined;
    if (next) await next();
  };
  try {
    const result = await mutation();
    expect(pending, 'the other write did not run').toBeUndefined();
    return result;
  } finally {
    delete (readModels as Partial<typeof readModels>).waitForPosition;
    if (readModels.waitForPosition !== waitForPosition) readModels.waitForPosition = waitForPosition;
  }
};

/** `mutation` with another keyed write in between: each answers its own event's revision and fields. */
const expectOwnRevisionDespiteAWriteInBetween = async (
  entity: Entity,
  streamId: string,
  mutation: { query: string; input: Record<string, unknown> },
  other: { query: string; input: Record<string, unknown> },
) => {
  const keys = { mutation: `first-${randomUUID()}`, other: `other-${randomUUID()}` };
  let otherPayload: Payload | undefined;
  const payload = await withWriteInBetween(
    () => ok(mutation.query, { ...mutation.input, idempotencyKey: keys.mutation }),
    async () => {
      otherPayload = await ok(other.query, { ...other.input, idempotencyKey: keys.other });
    },
  );
  const history = await historyOf(streamId);
  const own = eventOfKey(history, keys.mutation);
  expect(eventOfKey(history, keys.other).revision).toBe(own.revision + 1);
  await expectEntityAt(entity, payload[entity], own);
  await expectEntityAt(entity, otherPayload![entity], eventOfKey(history, keys.other));
};

// ---------------------------------------------------------------------------------------------

const captureLead = async (lastName: string): Promise<Payload> =>
  (await ok(CAPTURE, {
    source: 'WEB_FORM',
    person: { firstName: 'Marta', lastName, email: `${lastName.toLowerCase()}@botiga.example` },
    company: { name: `Botiga ${lastName}` },
  })).lead;

const openAccount = async (name: string): Promise<Payload> => (await ok(OPEN_ACCOUNT, { kind: 'COMPANY', name })).account;

const openOpportunity = async (accountId: string, name: string): Promise<Payload> =>
  (await ok(OPEN_OPPORTUNITY, { accountId, name, amount: { amount: '18500.00', currency: 'EUR' } })).opportunity;

const OUTCOMES = ['NO_ANSWER', 'LEFT_MESSAGE', 'REACHED', 'BOUNCED', 'WRONG_NUMBER'];

describe('a lead mutation answers the lead as its own write left it', () => {
  it('another write landing before the mutation reads the read model does not show in its answer', async () => {
    const lead = await captureLead('Abad');
    await expectOwnRevisionDespiteAWriteInBetween(
      'lead',
      `lead-${lead.id}`,
      { query: LOG_CONTACT, input: { leadId: lead.id, channel: 'CALL', outcome: 'NO_ANSWER' } },
      { query: LOG_CONTACT, input: { leadId: lead.id, channel: 'MEETING', outcome: 'REACHED' } },
    );
  });

  it('a capture whose automatic score lands first answers the lead as captured, folded from its own event, reading no stream', async () => {
    const { app } = api.server;
    const streamsRead: string[] = [];
    const readStream = app.store.readStream;
    app.store.readStream = (streamId, options) => {
      streamsRead.push(streamId);
      return readStream.call(app.store, streamId, options);
    };
    let capture: Payload;
    try {
      // The capture's score (10 points: a web form) recorded and in the read model before the mutation reads it.
      capture = (await withWriteInBetween(() => ok(CAPTURE, { source: 'WEB_FORM', person: { lastName: 'Cabot' } }), () => scoresSettled(app))).lead;
    } finally {
      app.store.readStream = readStream;
    }
    expect(capture).toMatchObject({ revision: 0, status: 'NEW', score: null });
    expect(streamsRead.filter((streamId) => streamId.endsWith(capture.id as string))).toEqual([]);
    await expectEntityAt('lead', capture, (await historyOf(`lead-${capture.id}`))[0]!);
    const now = await api.gql(`query($id: ID!) { lead(id: $id) { revision score } }`, { id: capture.id });
    expect(now.data!.lead).toEqual({ revision: 0, score: 10 });
  });

  it('an engagement whose automatic score lands first answers the lead as engaged, without that score', async () => {
    const { app } = api.server;
    const contact = (await ok(CREATE_CONTACT_ID, { firstName: 'Pau', lastName: 'Roca', email: 'pau@roca.example' })).contact;
    // Resting until the engagement's last write (its link on the contact) is in: a score recorded
    // before that write is part of what the engagement left, and is answered.
    const scorer = app.leadScorer()!;
    await scorer.stop();
    const settleAfterTheWrite = async () => {
      await scorer.start();
      await scoresSettled(app);
    };
    let engaged: Payload;
    try {
      engaged = (await withWriteInBetween(() => ok(ENGAGE, { contactId: contact.id, source: 'REFERRAL' }), settleAfterTheWrite)).lead;
    } finally {
      if (!scorer.running) await scorer.start();
    }
    expect(engaged).toMatchObject({ revision: 0, status: 'NEW', score: null });
    await expectEntityAt('lead', engaged, (await historyOf(`lead-${engaged.id}`))[0]!);
    const now = await api.gql(`query($id: ID!) { lead(id: $id) { revision score } }`, { id: engaged.id });
    expect(now.data!.lead).toEqual({ revision: 0, score: 20 });
  });

  it('10 concurrent logLeadContact: 10 distinct revisions, each its own event, each with the fields of that revision', async () => {
    const lead = await captureLead('Abril');
    await expectConcurrentCommandsAnswerTheirOwnRevision('lead', `lead-${lead.id}`, LOG_CONTACT, (index, key) => ({
      leadId: lead.id,
      channel: 'CALL',
      outcome: OUTCOMES[index % OUTCOMES.length],
      notes: `call ${index}`,
      idempotencyKey: key,
    }));
  });

  it('a replay after later changes answers the original result, revision and fields', async () => {
    const lead = await captureLead('Bosch');
    const input = { leadId: lead.id, channel: 'EMAIL', outcome: 'NO_ANSWER', idempotencyKey: `mail-${randomUUID()}` };
    const original = await ok(LOG_CONTACT, input);
    expect(original.lead).toMatchObject({ revision: 1, status: 'NEW', contactAttempts: 1 });

    await ok(LOG_CONTACT, { leadId: lead.id, channel: 'CALL', outcome: 'REACHED' });
    await ok(UPDATE_LEAD, { leadId: lead.id, person: { firstName: 'Marta', lastName: 'Bosch i Puig' } });
    await ok(QUALIFY, { leadId: lead.id, rank: 'MQL', criteria: { need: true } });

    const replay = await ok(LOG_CONTACT, input);
    expect(replay).toEqual(original);
    await expectEntityAt('lead', replay.lead, eventOfKey(await historyOf(`lead-${lead.id}`), input.idempotencyKey));
  });
});

describe('an opportunity mutation answers the opportunity as its own write left it', () => {
  it('another write landing before the mutation reads the read model does not show in its answer, nor in its lists', async () => {
    const account = await openAccount('Ferreteria Bages');
    const opportunity = await openOpportunity(account.id, 'Shop front');
    const opportunityId = opportunity.id;
    await expectOwnRevisionDespiteAWriteInBetween(
      'opportunity',
      `opportunity-${opportunityId}`,
      { query: SCHEDULE_WITH_LIST, input: { opportunityId, kind: 'VISIT', subject: 'Measure' } },
      { query: SCHEDULE_WITH_LIST, input: { opportunityId, kind: 'CALL', subject: 'Confirm' } },
    );
    await expectOwnRevisionDespiteAWriteInBetween(
      'opportunity',
      `opportunity-${opportunityId}`,
      { query: UPDATE_OPPORTUNITY, input: { opportunityId, name: 'Shop front and sign', probability: 15 } },
      { query: MOVE_STAGE, input: { opportunityId, stage: 'VISIT_PENDING' } },
    );
  });

  it('10 concurrent updateOpportunity: each its own revision, with that revision’s fields, quotes, activities and stages', async () => {
    const account = await openAccount('Ferreteria Coll');
    const opportunity = await openOpportunity(account.id, 'Shop refit');
    await ok(ADD_QUOTE, { opportunityId: opportunity.id, amount: { amount: '18000.00', currency: 'EUR' } });
    await ok(SCHEDULE, { opportunityId: opportunity.id, kind: 'VISIT', subject: 'Measure' });
    await ok(MOVE_STAGE, { opportunityId: opportunity.id, stage: 'VISIT_PENDING' });
    await expectConcurrentCommandsAnswerTheirOwnRevision(
      'opportunity',
      `opportunity-${opportunity.id}`,
      UPDATE_OPPORTUNITY,
      (index, key) => ({
        opportunityId: opportunity.id,
        name: `Shop refit, take ${index}`,
        amount: { amount: `${18000 + index}.00`, currency: 'EUR' },
        probability: 20 + index,
        idempotencyKey: key,
      }),
    );
  });

  it('10 concurrent scheduleActivity: each its own revision, with that revision’s fields', async () => {
    const account = await openAccount('Ferreteria Duran');
    const opportunity = await openOpportunity(account.id, 'Warehouse shelves');
    const payloads = await expectConcurrentCommandsAnswerTheirOwnRevision(
      'opportunity',
      `opportunity-${opportunity.id}`,
      SCHEDULE,
      (index, key) => ({ opportunityId: opportunity.id, kind: 'CALL', subject: `Call ${index}`, notes: `about ${index}`, idempotencyKey: key }),
    );
    for (const [index, payload] of payloads.entries()) expect(payload.activity).toMatchObject({ subject: `Call ${index}` });
  });

  it('a replay after later changes answers the original result, activities and stages included', async () => {
    const account = await openAccount('Ferreteria Esteve');
    const opportunity = await openOpportunity(account.id, 'Counter');
    const input = { opportunityId: opportunity.id, kind: 'MEETING', subject: 'Kick-off', idempotencyKey: `meet-${randomUUID()}` };
    const original = await ok(SCHEDULE_WITH_LIST, input);
    expect(original.opportunity.revision).toBe(1);
    expect(original.opportunity.activities.map((activity: any) => activity.subject)).toEqual(['Kick-off']);

    const call = await ok(SCHEDULE_WITH_LIST, { opportunityId: opportunity.id, kind: 'CALL', subject: 'Follow-up' });
    await ok(COMPLETE_ACTIVITY, { opportunityId: opportunity.id, activityId: call.activity.id });
    await ok(MOVE_STAGE, { opportunityId: opportunity.id, stage: 'VISIT_PENDING' });
    await ok(UPDATE_OPPORTUNITY, { opportunityId: opportunity.id, name: 'Counter and shelves' });

    const replay = await ok(SCHEDULE_WITH_LIST, input);
    expect(replay.opportunity).toEqual(original.opportunity);
    const history = await historyOf(`opportunity-${opportunity.id}`);
    await expectEntityAt('opportunity', replay.opportunity, eventOfKey(history, input.idempotencyKey));
  });
});

describe('an account mutation answers the account as its own write left it', () => {
  it('another write landing before the mutation reads the read model does not show in its answer', async () => {
    const account = await openAccount('Botiga Abella');
    await expectOwnRevisionDespiteAWriteInBetween(
      'account',
      `account-${account.id}`,
      { query: UPDATE_ACCOUNT, input: { accountId: account.id, name: 'Botiga Abella i Fills', industry: 'Retail' } },
      { query: UPDATE_ACCOUNT, input: { accountId: account.id, website: 'https://abella.example', address: { city: 'Vic' } } },
    );
  });

  it('10 concurrent updateAccount: each its own revision, with that revision’s fields', async () => {
    const account = await openAccount('Botiga Ferrer');
    await expectConcurrentCommandsAnswerTheirOwnRevision('account', `account-${account.id}`, UPDATE_ACCOUNT, (index, key) => ({
      accountId: account.id,
      name: `Botiga Ferrer ${index}`,
      phone: `+34 600 000 00${index}`,
      address: { city: `Girona ${index}`, country: 'ES' },
      idempotencyKey: key,
    }));
  });

  it('a replay after later changes answers the original result, its status as of then included', async () => {
    const account = await openAccount('Botiga Gil');
    const deal = await openOpportunity(account.id, 'Refit');
    const asProspect = { accountId: account.id, name: 'Botiga Gil i Fills', idempotencyKey: `rename-${randomUUID()}` };
    const prospect = await ok(UPDATE_ACCOUNT, asProspect);
    expect(prospect.account).toMatchObject({ revision: 1, status: 'PROSPECT', name: 'Botiga Gil i Fills' });

    await ok(CLOSE, { opportunityId: deal.id, outcome: 'WON' });
    const asCustomer = { accountId: account.id, industry: 'Retail', idempotencyKey: `industry-${randomUUID()}` };
    const customer = await ok(UPDATE_ACCOUNT, asCustomer);
    expect(customer.account).toMatchObject({ revision: 2, status: 'CUSTOMER', industry: 'Retail' });

    await ok(REOPEN, { opportunityId: deal.id, reason: 'Order cancelled' });
    await ok(UPDATE_ACCOUNT, { accountId: account.id, name: 'Gil Retail', website: 'https://gil.example' });

    const history = await historyOf(`account-${account.id}`);
    for (const [input, original] of [
      [asProspect, prospect],
      [asCustomer, customer],
    ] as const) {
      const replay = await ok(UPDATE_ACCOUNT, input);
      expect(replay).toEqual(original);
      await expectEntityAt('account', replay.account, eventOfKey(history, input.idempotencyKey));
    }
  });
});

describe('a contact mutation answers the contact as its own write left it', () => {
  it('another write landing before the mutation reads the read model does not show in its answer', async () => {
    const contact = (await ok(CREATE_CONTACT, { lastName: 'Bertran', firstName: 'Laia' })).contact;
    await expectOwnRevisionDespiteAWriteInBetween(
      'contact',
      `contact-${contact.id}`,
      { query: UPDATE_CONTACT, input: { contactId: contact.id, jobTitle: 'Buyer' } },
      { query: DEACTIVATE_CONTACT, input: { contactId: contact.id, reason: 'Left the company' } },
    );
  });

  it('10 concurrent updateContact: each its own revision, with that revision’s fields', async () => {
    const contact = (await ok(CREATE_CONTACT, { lastName: 'Huguet', firstName: 'Pau' })).contact;
    await expectConcurrentCommandsAnswerTheirOwnRevision('contact', `contact-${contact.id}`, UPDATE_CONTACT, (index, key) => ({
      contactId: contact.id,
      jobTitle: `Buyer ${index}`,
      phone: `+34 611 000 00${index}`,
      idempotencyKey: key,
    }));
  });

  it('a replay after later changes answers the original result', async () => {
    const contact = (await ok(CREATE_CONTACT, { lastName: 'Isern', email: 'isern@botiga.example' })).contact;
    const input = { contactId: contact.id, jobTitle: 'Owner', idempotencyKey: `title-${randomUUID()}` };
    const original = await ok(UPDATE_CONTACT, input);
    expect(original.contact).toMatchObject({ revision: 1, jobTitle: 'Owner', active: true });

    await ok(UPDATE_CONTACT, { contactId: contact.id, jobTitle: 'Retired owner', email: 'jisern@botiga.example' });
    await ok(DEACTIVATE_CONTACT, { contactId: contact.id, reason: 'Retired' });

    const replay = await ok(UPDATE_CONTACT, input);
    expect(replay).toEqual(original);
    await expectEntityAt('contact', replay.contact, eventOfKey(await historyOf(`contact-${contact.id}`), input.idempotencyKey));
  });
});

describe('convertLead answers each entity at the revision the conversion wrote', () => {
  const qualifiedLead = async (lastName: string) => {
    const lead = (await ok(CAPTURE, {
      source: 'INBOUND_EMAIL',
      person: { firstName: 'Marta', lastName, email: `${lastName.toLowerCase()}@${lastName.toLowerCase()}.example` },
      company: { name: `Botiga ${lastName}`, website: `${lastName.toLowerCase()}.example` },
      interest: { product: 'Shop refurbishment', estimatedValue: { amount: '18500.00', currency: 'EUR' } },
    })).lead;
    await ok(LOG_CONTACT, { leadId: lead.id, channel: 'CALL', outcome: 'REACHED' });
    await ok(QUALIFY, { leadId: lead.id, rank: 'SQL', criteria: { need: true, budget: true, authority: true, timing: true } });
    return lead.id as string;
  };

  /**
   * Each entity of the answer is the read model right after the conversion's own event on its
   * stream (the last it caused there), or, for an account the conversion did not write to, right
   * after `accountEvent`.
   */
  const expectConversionAt = async (answer: Payload, leadId: string, accountEvent?: HistoryEvent) => {
    const decision = (await historyOf(`lead-${leadId}`)).find((event) => event.type === 'LeadConverted')!;
    const ownEvent = async (streamId: string) =>
      (await historyOf(streamId)).filter((event) => event.causationId === decision.id).at(-1)!;
    await expectEntityAt('lead', answer.lead, decision);
    await expectEntityAt('account', answer.account, accountEvent ?? (await ownEvent(`account-${answer.account.id}`)));
    await expectEntityAt('contact', answer.contact, await ownEvent(`contact-${answer.contact.id}`));
    await expectEntityAt('opportunity', answer.opportunity, await ownEvent(`opportunity-${answer.opportunity.id}`));
  };

  it('writes landing on its account, contact and opportunity before it reads the read models do not show in its answer', async () => {
    const leadId = await qualifiedLead('Isla');
    const answer = await withWriteInBetween(
      () => ok(CONVERT, { leadId }),
      async () => {
        const decision = (await api.server.app.store.readStream(leadStreamId(leadId))).find((event) => event.type === 'LeadConverted')!;
        const { accountId, contactId, opportunityId } = decision.data as { accountId: string; contactId: string; opportunityId: string };
        await ok(UPDATE_ACCOUNT, { accountId, name: 'Isla Retail' });
        await ok(UPDATE_CONTACT, { contactId, jobTitle: 'Owner' });
        await ok(UPDATE_OPPORTUNITY, { opportunityId, name: 'Full refit' });
        await ok(SCHEDULE, { opportunityId, kind: 'CALL', subject: 'Follow-up' });
      },
    );
    expect(answer).toMatchObject({
      account: { revision: 0, name: 'Botiga Isla' },
      contact: { revision: 0, jobTitle: null },
      opportunity: { revision: 0, name: 'Shop refurbishment', activities: [] },
    });
    await expectConversionAt(answer, leadId);
  });

  it('a replay after later changes to the lead’s account, contact and opportunity answers the original result', async () => {
    const leadId = await qualifiedLead('Jover');
    const input = { leadId, idempotencyKey: `convert-${randomUUID()}` };
    const original = await ok(CONVERT, input);
    expect(original.account.revision).toBe(0);
    expect(original.contact.revision).toBe(0);
    expect(original.opportunity.revision).toBe(0);
    await expectConversionAt(original, leadId);

    const { account, contact, opportunity } = original;
    await ok(UPDATE_ACCOUNT, { accountId: account.id, name: 'Jover Retail', industry: 'Retail' });
    await ok(UPDATE_CONTACT, { contactId: contact.id, jobTitle: 'Owner' });
    await ok(UPDATE_OPPORTUNITY, { opportunityId: opportunity.id, name: 'Full refit' });
    await ok(ADD_QUOTE, { opportunityId: opportunity.id, amount: { amount: '18000.00', currency: 'EUR' } });
    await ok(CLOSE, { opportunityId: opportunity.id, outcome: 'WON' });

    const replay = await ok(CONVERT, input);
    expect(replay).toEqual(original);
    expect(replay.account.status).toBe('PROSPECT');
    await expectConversionAt(replay, leadId);
  });

  it('onto an existing account and contact: each as the conversion left it, the contact moved and linked', async () => {
    const home = await openAccount('Kuhn Holding');
    const target = await openAccount('Kuhn Botiga');
    const contact = (await ok(CREATE_CONTACT, { lastName: 'Kuhn', accountId: home.id })).contact;
    const leadId = await qualifiedLead('Kuhn');
    const input = {
      leadId,
      account: { existingAccountId: target.id },
      existingContactId: contact.id,
      idempotencyKey: `convert-${randomUUID()}`,
    };
    const original = await ok(CONVERT, input);
    expect(original.account).toMatchObject({ id: target.id, revision: 0 });
    expect(original.contact).toMatchObject({ id: contact.id, accountId: target.id, revision: 2 });

    await ok(UPDATE_ACCOUNT, { accountId: target.id, name: 'Kuhn Botiga Nova' });
    await ok(UPDATE_CONTACT, { contactId: contact.id, jobTitle: 'Manager' });
    await ok(CLOSE, { opportunityId: original.opportunity.id, outcome: 'WON' });

    const replay = await ok(CONVERT, input);
    expect(replay).toEqual(original);
    const accountOpened = (await historyOf(`account-${target.id}`))[0]!;
    await expectConversionAt(replay, leadId, accountOpened);
  });
});

/**
 * The leads read model and a person's erasure (GDPR art. 17): live, the rows written from events
 * in clear lose every personal value at `PersonalDataErased`; rebuilt, the same events read with
 * their personal fields null (as the event store gives them once the key is destroyed), then the
 * same erasure, give the very same rows.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/core/eventStore';
import { searchKey } from '../../src/core/normalize';
import { leadStreamId, type LeadEvent } from '../../src/domain/leads/lead';
import { personalDataStreamId, type PersonalDataErased } from '../../src/domain/personalData';
import { asReadAfterErasure, eventRecorder } from '../../test/support/erasureEvents';
import { openSqliteDatabase, type SqlDatabase } from '../sqlDatabase';
import { evolveLeadView, leadsProjection, type RecordedLeadEvent } from './leadsProjection';
import { findLeads } from './leadsQueries';
import { fromRow, getLead, type LeadView } from './leadView';

const ERASED = 'lead-marta';
const FIRST_CYCLE = 'lead-marta-first';
const KEPT = 'lead-jordi';

const MARTA = {
  firstName: 'Martina',
  lastName: 'Puigdomènech',
  email: 'martina.puigdomenech@botiga.example',
  phone: '+34 611 222 333',
  jobTitle: 'Cap de forn',
};
/** Her home, given as a consumer (B2C) in her first cycle, which had no company. */
const HOME = { street: 'Carrer del Forn 5, 1r 2a', city: 'Girona', postalCode: '17004', country: 'ES' };
/** Every personal value written about Martina: none may survive in a row once she is erased. */
const PLAINTEXT = [
  ...Object.values(MARTA),
  HOME.street,
  HOME.postalCode,
  'Puigdomènech Serra',
  'martina@forn-central.example',
  'Martina wants it before Easter',
  'Martina asked for two ovens',
  'Spoke to Martina at home',
  'Martina has the budget',
  'Martina chose a competitor',
  'Martina came back',
];

const recorded = eventRecorder();
const stream = (leadId: string, events: LeadEvent[], minute: number): RecordedEvent[] =>
  events.map((event, revision) => recorded(leadStreamId(leadId), revision, event.type, event.data, minute));

const history = (): RecordedEvent[] => [
  ...stream(
    ERASED,
    [
      {
        type: 'LeadCaptured',
        data: {
          leadId: ERASED,
          source: 'WEB_FORM',
          campaign: 'spring-fair',
          person: MARTA,
          company: { name: 'Forn Central', website: 'forn-central.example' },
          interest: { product: 'Oven refit', notes: 'Martina wants it before Easter', estimatedValue: { amount: '18500.00', currency: 'EUR' } },
        },
      },
      {
        type: 'LeadDetailsUpdated',
        data: {
          leadId: ERASED,
          person: { ...MARTA, lastName: 'Puigdomènech Serra', email: 'martina@forn-central.example' },
          interest: { product: 'Oven refit', notes: 'Martina asked for two ovens', estimatedValue: { amount: '21000.00', currency: 'EUR' } },
        },
      },
      { type: 'LeadContactLogged', data: { leadId: ERASED, channel: 'CALL', outcome: 'REACHED', notes: 'Spoke to Martina at home' } },
      { type: 'LeadAssigned', data: { leadId: ERASED, ownerId: 'user-bob' } },
      {
        type: 'LeadQualified',
        data: { leadId: ERASED, rank: 'SQL', criteria: { need: true, budget: true, authority: true, timing: false }, notes: 'Martina has the budget' },
      },
      { type: 'LeadScored', data: { leadId: ERASED, score: 42, rulesVersion: 'v1', breakdown: [{ ruleId: 'reached', points: 42 }] } },
    ],
    0,
  ),
  ...stream(
    FIRST_CYCLE,
    [
      {
        type: 'LeadCaptured',
        data: { leadId: FIRST_CYCLE, source: 'TRADE_FAIR', person: { ...MARTA, address: HOME }, interest: { notes: 'Martina came back' } },
      },
      { type: 'LeadDisqualified', data: { leadId: FIRST_CYCLE, reason: 'NO_BUDGET', notes: 'Martina chose a competitor', statusBefore: 'NEW' } },
    ],
    10,
  ),
  ...stream(
    KEPT,
    [
      {
        type: 'LeadCaptured',
        data: {
          leadId: KEPT,
          source: 'REFERRAL',
          person: { firstName: 'Jordi', lastName: 'Vidal', email: 'jordi@vidal.example' },
          interest: { product: 'Oven refit', notes: 'Jordi wants it too' },
        },
      },
      { type: 'LeadQualified', data: { leadId: KEPT, rank: 'MQL', criteria: { need: true, budget: false, authority: false, timing: false }, notes: 'Jordi is keen' } },
    ],
    20,
  ),
];

const erasure = (): RecordedEvent =>
  recorded(personalDataStreamId(ERASED), 0, 'PersonalDataErased', {
    subjectId: ERASED,
    leadIds: [ERASED, FIRST_CYCLE],
    contactIds: ['contact-martina'],
    keyIds: ['key-martina'],
    origin: 'REQUEST',
    reason: 'She asked us to',
  } satisfies PersonalDataErased['data']);

describe('leads read model: erasure of a person', () => {
  let live: SqlDatabase;
  let rebuilt: SqlDatabase;

  const project = async (db: SqlDatabase, events: readonly RecordedEvent[]) => {
    for (const event of events) {
      if (leadsProjection.canHandle.includes(event.type)) await db.transaction((tx) => leadsProjection.apply(tx, event));
    }
  };
  const rows = (db: SqlDatabase) => db.all<Record<string, unknown>>('SELECT * FROM read_leads ORDER BY id');
  const row = async (db: SqlDatabase, id: string) => (await db.get<Record<string, unknown>>('SELECT * FROM read_leads WHERE id = ?', [id]))!;
  const leaks = (value: unknown): string[] => {
    const text = JSON.stringify(value).toLowerCase();
    return PLAINTEXT.filter((plain) => text.includes(plain.toLowerCase()) || text.includes(searchKey(plain)));
  };

  beforeEach(async () => {
    live = openSqliteDatabase(':memory:');
    rebuilt = openSqliteDatabase(':memory:');
    await leadsProjection.setup(live);
    await leadsProjection.setup(rebuilt);
  });
  afterEach(async () => {
    await live.close();
    await rebuilt.close();
  });

  it('takes PersonalDataErased in, and was bumped so that the runner rebuilds it', () => {
    expect(leadsProjection.canHandle).toContain('PersonalDataErased');
    expect(leadsProjection.version).toBeGreaterThanOrEqual(5);
  });

  it('nulls every personal column of the leads named, keeps the rest, and marks them', async () => {
    await project(live, history());
    const before = await row(live, ERASED);
    expect(leaks(before).length).toBeGreaterThan(0);
    expect(before.personal_data_erased).toBe(0);
    const kept = await row(live, KEPT);
    // The person's own address travels with the person, in the same JSON column.
    expect(JSON.parse(String((await row(live, FIRST_CYCLE)).person))).toEqual({ ...MARTA, address: HOME });

    await project(live, [erasure()]);

    const after = await row(live, ERASED);
    expect(after).toMatchObject({ person: null, qualification_notes: null, disqualification_notes: null, personal_data_erased: 1 });
    // The duplicate keys are the person's e-mail and name: gone with them.
    expect(before).toMatchObject({ email_key: 'martina@forn-central.example', identity_key: expect.stringContaining('|forncentral') });
    expect(after).toMatchObject({ email_key: null, identity_key: null });
    expect(JSON.parse(String(after.interest))).toEqual({ product: 'Oven refit', estimatedValue: { amount: '21000.00', currency: 'EUR' } });
    // The search text keeps the company, and nothing of the person.
    expect(after.search_text).toBe(searchKey('Forn Central'));
    // What is not personal stays as it was, revision and times included: an erasure is no lead event.
    const unchanged = (r: Record<string, unknown>) => {
      const { person: _p, interest: _i, qualification_notes: _q, search_text: _s, personal_data_erased: _e, email_key: _m, identity_key: _k, ...rest } = r;
      return rest;
    };
    expect(unchanged(after)).toEqual(unchanged(before));

    const firstCycle = await row(live, FIRST_CYCLE);
    expect(firstCycle).toMatchObject({ person: null, disqualification_notes: null, disqualification_reason: 'NO_BUDGET', personal_data_erased: 1 });
    expect(JSON.parse(String(firstCycle.interest))).toEqual({});

    for (const erased of [after, firstCycle]) expect(leaks(erased)).toEqual([]);
    expect(await row(live, KEPT)).toEqual(kept);

    const view = (await getLead(live, ERASED))!;
    expect(view).toMatchObject({ person: null, qualificationNotes: null, personalDataErased: true, status: 'QUALIFIED', rank: 'SQL', score: 42 });
    expect((await getLead(live, KEPT))!.personalDataErased).toBe(false);
  });

  it('ends with the same rows as a rebuild, which reads the events erased and then the same PersonalDataErased', async () => {
    // One log, read twice (its positions are in the rows: where each score was recorded).
    const log = history();
    await project(live, [...log, erasure()]);
    // What a rebuild reads: Martina's events with their personal fields null, Jordi's in clear.
    const rebuildSees = [
      ...log.map((event) => (event.streamId === leadStreamId(KEPT) ? event : asReadAfterErasure(event))),
      erasure(),
    ];
    await project(rebuilt, rebuildSees);

    expect(await rows(rebuilt)).toEqual(await rows(live));
    // Erasing again changes nothing.
    await project(live, [erasure()]);
    expect(await rows(live)).toEqual(await rows(rebuilt));
  });

  it('takes null personal fields in without writing "null" or "undefined", and marks the lead before the erasure is read', async () => {
    const erasedOnly = history()
      .filter((event) => event.streamId !== leadStreamId(KEPT))
      .map(asReadAfterErasure);
    await project(rebuilt, erasedOnly);
    for (const r of await rows(rebuilt)) {
      expect(r.personal_data_erased).toBe(1);
      expect(r.person).toBeNull();
      for (const value of Object.values(r)) if (value !== null) expect(String(value)).not.toMatch(/\bnull\b|\bundefined\b/);
    }
    // Time travel and answers at a revision fold the same way (src/useCases/asOf.ts).
    const folded = erasedOnly
      .filter((event) => event.streamId === leadStreamId(ERASED))
      .reduce<LeadView | undefined>((view, event) => evolveLeadView(view, event as unknown as RecordedLeadEvent), undefined)!;
    expect(folded).toMatchObject({ person: null, qualificationNotes: null, personalDataErased: true });
    expect(folded.interest).toEqual({ product: 'Oven refit', estimatedValue: { amount: '21000.00', currency: 'EUR' } });
    expect(fromRow((await rows(rebuilt)).find((r) => r.id === ERASED) as never)).toEqual(folded);
  });

  it('leaves erased leads out of a search by their name or e-mail', async () => {
    await project(live, [...history(), erasure()]);
    for (const search of ['Martina', 'Puigdomènech', 'martina.puigdomenech@botiga.example', 'martina@forn-central']) {
      expect((await findLeads(live, { filter: { search } })).nodes).toEqual([]);
    }
    expect((await findLeads(live, { filter: { search: 'jordi' } })).nodes.map((lead) => lead.id)).toEqual([KEPT]);
    // The company is no personal data: it is still found by it.
    expect((await findLeads(live, { filter: { search: 'forn central' } })).nodes.map((lead) => lead.id)).toEqual([ERASED]);
  });

  it('ignores an erasure naming leads it never saw', async () => {
    await project(live, history());
    const before = await rows(live);
    await project(live, [
      recorded(personalDataStreamId('nobody'), 0, 'PersonalDataErased', {
        subjectId: 'nobody',
        leadIds: ['lead-nobody'],
        contactIds: [],
        keyIds: [],
        origin: 'RETENTION',
        reason: 'policy',
      }),
    ]);
    expect(await rows(live)).toEqual(before);
  });
});

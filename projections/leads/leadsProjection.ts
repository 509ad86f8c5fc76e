/**
 * The leads read model: one row per lead in `read_leads`, for the lead detail and the lead
 * list. Status, rank, cycle and contact attempts are folded with the domain's own `evolveLead`,
 * so the list can never disagree with what a command would decide; the row only adds what the
 * domain state does not keep (times, notes, who captured the lead). The score is the latest
 * recorded in the log's order: a `LeadScored` of the lead's stream or an automatic
 * `LeadRescored` of its score stream, which changes neither the row's revision nor its
 * `updatedAt` (it is no fact of the lead's: retention still sees the lead untouched).
 */
import type { RecordedEvent } from '../../src/core/eventStore';
import { utcInstant } from '../../src/core/eventTimes';
import {
  LEAD_EVENT_TYPES,
  evolveLead,
  initialLeadState,
  leadStreamId,
  type LeadEvent,
  type LeadState,
} from '../../src/domain/leads/lead';
import type { LeadRescored } from '../../src/domain/scoring/rescore';
import { carriesErasedPersonalData, erasedPeople, PERSONAL_DATA_ERASED } from '../personalData';
import { rowsByKeys } from '../rowsByKeys';
import { EventNotApplied, type InMemoryFold, type Projection } from '../projection';
import type { SqlDatabase } from '../sqlDatabase';
import { LEAD_SEARCH } from './leadSearch';
import {
  AUTOMATIC_SCORE_COLUMNS,
  automaticScoreValues,
  COLUMNS,
  erasedLeadView,
  fromRow,
  getLead,
  storedInterest,
  toRow,
  type AutomaticScore,
  type LeadRow,
  type LeadView,
} from './leadView';

export type RecordedLeadEvent = LeadEvent & Pick<RecordedEvent, 'revision' | 'metadata' | 'position'>;
/** An automatic score, from the lead's score stream: its `revision` is that stream's, not the lead's. */
export type RecordedLeadRescored = LeadRescored & Pick<RecordedEvent, 'revision' | 'metadata' | 'position'>;
/** What the leads read model folds into a lead's row: the lead's events and its automatic scores, in log order. */
export type RecordedLeadStoryEvent = RecordedLeadEvent | RecordedLeadRescored;

const LEAD_RESCORED = 'LeadRescored';
const CREATE_TABLE = `
  CREATE TABLE IF NOT EXISTS read_leads (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,
    rank TEXT NOT NULL,
    source TEXT NOT NULL,
    campaign TEXT,
    person TEXT,
    company TEXT,
    interest TEXT,
    owner_id TEXT,
    cycle INTEGER NOT NULL,
    contact_attempts INTEGER NOT NULL,
    last_contacted_at TEXT,
    last_contact_outcome TEXT,
    criteria TEXT,
    qualification_notes TEXT,
    qualified_at TEXT,
    disqualification_reason TEXT,
    disqualification_notes TEXT,
    disqualified_at TEXT,
    contacts_by TEXT NOT NULL,
    quote_requests INTEGER NOT NULL,
    score INTEGER,
    score_rules_version TEXT,
    score_breakdown TEXT,
    scored_at TEXT,
    score_position TEXT,
    score_order INTEGER NOT NULL,
    conversion TEXT,
    contact_id TEXT,
    captured_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    captured_by TEXT NOT NULL,
    personal_data_erased INTEGER NOT NULL DEFAULT 0,
    search_text TEXT NOT NULL,
    email_key TEXT,
    identity_key TEXT
  );
  CREATE INDEX IF NOT EXISTS read_leads_by_email_key ON read_leads (email_key);
  CREATE INDEX IF NOT EXISTS read_leads_by_identity_key ON read_leads (identity_key);
  -- The newest first, with the search text beside: a search reads the narrow index, not the wide
  -- rows, and fetches a row only once it matches (count and page of 114,000 leads: 250 -> 40 ms).
  -- It replaces (captured_at, id), its prefix.
  DROP INDEX IF EXISTS read_leads_by_capture;
  CREATE INDEX IF NOT EXISTS read_leads_by_capture_searchable ON read_leads (captured_at, id, search_text);
  CREATE INDEX IF NOT EXISTS read_leads_by_status ON read_leads (status, captured_at, id);
  CREATE INDEX IF NOT EXISTS read_leads_by_owner ON read_leads (owner_id, captured_at, id);
  -- A seller's leads at one status ("my qualified leads"), counted and paged from the index alone.
  CREATE INDEX IF NOT EXISTS read_leads_by_owner_status ON read_leads (owner_id, status, captured_at, id);
  CREATE INDEX IF NOT EXISTS read_leads_by_score ON read_leads (score_order, captured_at, id);`;

// The WHERE keeps the write idempotent even if a caller skips the revision check.
const UPSERT_LEAD = `
  INSERT INTO read_leads (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (id) DO UPDATE SET ${COLUMNS.slice(1)
    .map((column) => `${column} = excluded.${column}`)
    .join(', ')}
  WHERE read_leads.revision < excluded.revision`;

// An erasure, or an automatic score, rewrites the row as it stands (revision and times included):
// neither is an event of the lead's stream.
const REWRITE_LEAD = `UPDATE read_leads SET ${COLUMNS.slice(1)
  .map((column) => `${column} = ?`)
  .join(', ')} WHERE id = ?`;

export const leadsProjection: Projection = {
  name: 'leads',
  // 4: search text folded by src/core/normalize (ß, æ, ø... too). 5: personal data erasure
  // (personal_data_erased; erased events' null fields taken in). 6: duplicate keys (email_key,
  // identity_key). 7: the contact a lead was opened for (contact_id). 8: automatic scores
  // (LeadRescored, from the lead's score stream), and score_position. (The search index is built
  // by `setup` from the rows, and needs no rebuild.)
  version: 8,
  rebuildsInBulk: true,
  rebuildWeight: 11.6,
  // A lead's row is found by its id (the key); these indexes serve lists, search and duplicates.
  deferredIndexes: ['read_leads_by_email_key', 'read_leads_by_identity_key', 'read_leads_by_capture_searchable', 'read_leads_by_status', 'read_leads_by_owner', 'read_leads_by_owner_status', 'read_leads_by_score'],
  canHandle: [...LEAD_EVENT_TYPES, LEAD_RESCORED, PERSONAL_DATA_ERASED],
  setup: async (db) => {
    await db.exec(CREATE_TABLE);
    await LEAD_SEARCH.setup(db);
  },
  reset: (db) => db.exec(`${LEAD_SEARCH.dropSql(db.dialect)} DROP TABLE IF EXISTS read_leads`),
  copyInBulk: { read_leads: LEAD_SEARCH.copyInBulk },
  foldInMemory: () => foldLeadsInMemory(),
  applyBatch: (tx, events) => applyLeadBatch(tx, events),
  async apply(tx, event) {
    if (event.type === PERSONAL_DATA_ERASED) return eraseLeads(tx, erasedPeople(event).leadIds);
    if (event.type === LEAD_RESCORED) {
      const rescored = event as unknown as RecordedLeadRescored;
      const row = toRow(evolveLeadView(await getLead(tx, rescored.data.leadId), rescored));
      await tx.run(REWRITE_LEAD, [...COLUMNS.slice(1).map((column) => row[column]), rescored.data.leadId]);
      return;
    }
    const leadEvent = event as RecordedLeadEvent;
    // A capture opens the lead's stream: no row to read first (one statement less for every new
    // lead), and the upsert's revision guard leaves the row as it is if the event comes again.
    const current = leadEvent.type === 'LeadCaptured' ? undefined : await getLead(tx, leadEvent.data.leadId);
    if (current !== undefined && current.revision >= event.revision) return;
    const row = toRow(evolveLeadView(current, leadEvent));
    await tx.run(UPSERT_LEAD, COLUMNS.map((column) => row[column]));
  },
};

/** Leads a bulk rebuild holds in memory at most (a few KB each): past it, the least recently touched are written out. */
const MAX_LEADS_IN_MEMORY = 20_000;

// The fold's own write: the view it holds is always the latest, so no revision guard (an erasure
// rewrites a row at the revision it already has).
const WRITE_LEAD = `
  INSERT INTO read_leads (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (id) DO UPDATE SET ${COLUMNS.slice(1)
    .map((column) => `${column} = excluded.${column}`)
    .join(', ')}`;

/**
 * The leads of a bulk rebuild, folded in memory: the view an event leaves is the one `apply`
 * would have read back from the row it wrote (the view holds nothing the row does not keep), so a
 * lead's row is written once when it leaves memory, instead of read and written at every event.
 * A lead written out and met again is read back from its row, as `apply` reads it.
 */
export const foldLeadsInMemory = (maxLeads = MAX_LEADS_IN_MEMORY): InMemoryFold => {
  // In order of last use: a lead met again is taken out and put back at the end.
  const views = new Map<string, LeadView>();
  const take = async (tx: SqlDatabase, id: string): Promise<LeadView | undefined> => {
    const held = views.get(id);
    if (held === undefined) return getLead(tx, id);
    views.delete(id);
    return held;
  };
  return {
    async apply(tx, event) {
      if (event.type === PERSONAL_DATA_ERASED) {
        for (const id of erasedPeople(event).leadIds) {
          const current = await take(tx, id);
          if (current !== undefined) views.set(id, erasedLeadView(current));
        }
        return;
      }
      if (event.type === LEAD_RESCORED) {
        const rescored = event as unknown as RecordedLeadRescored;
        views.set(rescored.data.leadId, evolveLeadView(await take(tx, rescored.data.leadId), rescored));
        return;
      }
      const leadEvent = event as RecordedLeadEvent;
      const id = leadEvent.data.leadId;
      const current = await take(tx, id);
      views.set(id, current !== undefined && current.revision >= event.revision ? current : evolveLeadView(current, leadEvent));
    },
    async flush(tx, everything) {
      const keep = everything ? 0 : maxLeads;
      for (const [id, view] of views) {
        if (views.size <= keep) break;
        const row = toRow(view);
        await tx.run(WRITE_LEAD, COLUMNS.map((column) => row[column]));
        views.delete(id);
      }
    },
  };
};

// A batch's rows, each folded from its stored row or from none (see `leadsToRead`). The WHERE
// keeps a stored row further on in its stream than the fold, as `apply`'s revision guard does;
// an equal revision is rewritten (an automatic score or an erasure leaves the revision as it is).
const WRITE_LEADS_TAIL = `ON CONFLICT (id) DO UPDATE SET ${COLUMNS.slice(1)
  .map((column) => `${column} = excluded.${column}`)
  .join(', ')}
  WHERE read_leads.revision <= excluded.revision`;

/** The leads an event of this read model touches. */
const leadIdsOf = (event: RecordedEvent): readonly string[] =>
  event.type === PERSONAL_DATA_ERASED ? erasedPeople(event).leadIds : [(event.data as { leadId: string }).leadId];

/**
 * A batch of the runner (`Projection.applyBatch`): every lead it touches read together
 * (`rowsByKeys`), folded in memory as `apply` folds it, and written once (`writeRows`): on
 * PostgreSQL, a statement each, whatever the batch's size. Under load a batch holds the captures
 * of many requests and the scores of earlier ones, and `apply` paid a statement to read each
 * scored lead and one to write each event: on PostgreSQL, a round trip each, one after the other,
 * which made this read model two thirds of the runner's time.
 */
const applyLeadBatch = async (tx: SqlDatabase, events: readonly RecordedEvent[]): Promise<void> => {
  const { scoredOnly, others } = scoredOnlyApart(events);
  const views = new Map<string, LeadView>();
  for (const row of await rowsByKeys<LeadRow>(tx, 'read_leads', 'id', leadsToRead(others))) views.set(row.id as string, fromRow(row));
  const changed = new Set<string>();
  for (const event of others) {
    try {
      if (event.type === PERSONAL_DATA_ERASED) {
        for (const id of erasedPeople(event).leadIds) {
          const current = views.get(id);
          if (current === undefined) continue;
          views.set(id, erasedLeadView(current));
          changed.add(id);
        }
        continue;
      }
      const leadEvent = event as RecordedLeadStoryEvent;
      const id = leadEvent.data.leadId;
      const current = views.get(id);
      // As `apply`'s revision guard: a lead's own event it already holds leaves the row alone.
      if (event.type !== LEAD_RESCORED && current !== undefined && current.revision >= event.revision) continue;
      views.set(id, evolveLeadView(current, leadEvent));
      changed.add(id);
    } catch (error) {
      throw new EventNotApplied(event, error);
    }
  }
  const rows = [...changed].map((id) => toRow(views.get(id)!));
  await tx.writeRows('read_leads', COLUMNS, rows.map((row) => COLUMNS.map((column) => row[column]!)), WRITE_LEADS_TAIL);
  await writeAutomaticScores(tx, scoredOnly);
};

/**
 * The leads whose rows a batch must read: all it touches but those it opens, whose first event
 * in the batch begins their own stream (revision 0, a capture). Such a lead has no row the batch
 * could build on: the runner moves a projection's checkpoint in the transaction that writes its
 * rows, so no row holds an event past the checkpoint; should one ever, the write keeps it
 * (`WRITE_LEADS_TAIL`). Under a load of captures a batch holds nothing but new leads and
 * the scores of earlier ones: on PostgreSQL this was a round trip of every batch, waited for by
 * every capture in it.
 */
const leadsToRead = (events: readonly RecordedEvent[]): string[] => {
  const opened = new Set<string>();
  const toRead = new Set<string>();
  for (const event of events) {
    for (const id of leadIdsOf(event)) {
      if (opened.has(id) || toRead.has(id)) continue;
      if (opensLead(event, id)) opened.add(id);
      else toRead.add(id);
    }
  }
  return [...toRead];
};

const opensLead = (event: RecordedEvent, leadId: string): boolean =>
  event.revision === 0 && event.type !== LEAD_RESCORED && event.type !== PERSONAL_DATA_ERASED && event.streamId === leadStreamId(leadId);

/**
 * The batch's automatic scores of leads it has no other event of, apart (the last of each lead's,
 * which is all its row keeps), from the events to fold. Under a load of captures, half a batch is
 * the scores of leads captured in an earlier one: their rows need neither reading nor rewriting whole.
 */
const scoredOnlyApart = (events: readonly RecordedEvent[]): { scoredOnly: Map<string, RecordedLeadRescored>; others: RecordedEvent[] } => {
  const touched = new Set<string>();
  for (const event of events) if (event.type !== LEAD_RESCORED) for (const id of leadIdsOf(event)) touched.add(id);
  /** Each lead's last score in the batch, which is all its row keeps. */
  const scoredOnly = new Map<string, RecordedLeadRescored>();
  const others: RecordedEvent[] = [];
  for (const event of events) {
    const rescored = event.type === LEAD_RESCORED ? (event as unknown as RecordedLeadRescored) : undefined;
    if (rescored === undefined || touched.has(rescored.data.leadId)) {
      others.push(event);
      continue;
    }
    scoredOnly.set(rescored.data.leadId, rescored);
  }
  return { scoredOnly, others };
};

/** The score columns of each lead's row, in one statement on PostgreSQL; a lead without a row fails the batch, as `apply` does. */
const writeAutomaticScores = async (tx: SqlDatabase, scores: ReadonlyMap<string, RecordedLeadRescored>): Promise<void> => {
  if (scores.size === 0) return;
  const rows = [...scores].map(([leadId, last]) => [leadId, ...automaticScoreValues(automaticScoreOf(last))]);
  // Every scored lead must have its row. Checked where the statements run, so that a batch that
  // holds its writes waits for no answer (on SQLite, from the projections' thread): a lead never
  // captured fails the batch, which the runner then applies event by event, and `apply` names
  // the score at fault (`withAutomaticScore`).
  await tx.updateRows('read_leads', 'id', AUTOMATIC_SCORE_COLUMNS, rows, {
    changes: rows.length,
    otherwise: `A batch of ${rows.length} leads' scores holds one for a lead never captured`,
  });
};

/** Each erased lead's row rewritten with its personal fields null, by the same mapping as any write. */
const eraseLeads = async (tx: SqlDatabase, leadIds: readonly string[]): Promise<void> => {
  for (const id of leadIds) {
    const current = await getLead(tx, id);
    if (current === undefined) continue;
    const row = toRow(erasedLeadView(current));
    await tx.run(REWRITE_LEAD, [...COLUMNS.slice(1).map((column) => row[column]), id]);
  }
};

export const evolveLeadView = (view: LeadView | undefined, event: RecordedLeadStoryEvent): LeadView => {
  if (event.type === LEAD_RESCORED) return withAutomaticScore(view, event);
  const state = evolveLead(view === undefined ? initialLeadState() : toLeadState(view), event);
  if (state.status === 'NONE') {
    throw new Error(`Lead ${event.data.leadId} has a ${event.type} but was never captured`);
  }
  // The log's times are canonical already: no Date to parse and format again for every event.
  const at = utcInstant(event.metadata.occurredAt);
  const base = view ?? capturedView(event.data.leadId, at, event.metadata.actor);
  // Every field named (the compiler tells one left out): V8 builds an object of known shape at
  // once, where spreading the view and then overriding its fields went property by property.
  // `npm run bench:folds`: 1.9 us an event, 7.2 to 7.9 before.
  const next: LeadView = {
    id: base.id,
    revision: event.revision,
    status: state.status,
    rank: state.rank,
    source: state.source,
    campaign: state.campaign ?? null,
    person: state.person ?? null,
    company: state.company ?? null,
    interest: storedInterest(state.interest ?? null),
    ownerId: state.ownerId ?? null,
    cycle: state.cycle,
    contactAttempts: state.contactAttempts,
    lastContactedAt: base.lastContactedAt,
    lastContactOutcome: base.lastContactOutcome,
    criteria: state.criteria ?? null,
    qualificationNotes: base.qualificationNotes,
    qualifiedAt: base.qualifiedAt,
    disqualificationReason: state.disqualificationReason ?? null,
    disqualificationNotes: base.disqualificationNotes,
    disqualifiedAt: base.disqualifiedAt,
    contactsBy: state.contactsBy,
    quoteRequests: state.quoteRequests,
    score: state.score?.value ?? null,
    scoreRulesVersion: state.score?.rulesVersion ?? null,
    scoreBreakdown: base.scoreBreakdown,
    scoredAt: base.scoredAt,
    scorePosition: base.scorePosition,
    conversion: base.conversion,
    contactId: state.contactId ?? null,
    capturedAt: base.capturedAt,
    updatedAt: at,
    capturedBy: base.capturedBy,
    // An event read after the erasure (a rebuild, time travel) says so itself.
    personalDataErased: base.personalDataErased || carriesErasedPersonalData(event),
  };
  // What an event sets beyond the lead's state, on the object just made (nothing else holds it).
  switch (event.type) {
    case 'LeadContactLogged':
      next.lastContactedAt = at;
      next.lastContactOutcome = event.data.outcome;
      break;
    case 'LeadQualified':
      next.qualificationNotes = event.data.notes ?? null;
      next.qualifiedAt = at;
      break;
    case 'LeadDisqualified':
      next.disqualificationNotes = event.data.notes ?? null;
      next.disqualifiedAt = at;
      break;
    case 'LeadConverted': {
      const { accountId, contactId, opportunityId } = event.data;
      next.conversion = { accountId, contactId, opportunityId, convertedAt: at, convertedBy: event.metadata.actor };
      break;
    }
    case 'LeadScored':
      next.scoreBreakdown = event.data.breakdown;
      next.scoredAt = at;
      next.scorePosition = event.position;
      break;
    case 'LeadRecycled':
      // A new cycle starts unqualified; the last contact stays, it is still the last one.
      next.qualificationNotes = null;
      next.qualifiedAt = null;
      next.disqualificationNotes = null;
      next.disqualifiedAt = null;
      break;
    default:
      break;
  }
  return next;
};

/** An automatic score: the score fields only; the lead's revision, status and times stay. */
const withAutomaticScore = (view: LeadView | undefined, event: RecordedLeadRescored): LeadView => {
  if (view === undefined) throw neverCaptured(event);
  return { ...view, ...automaticScoreOf(event) };
};

const automaticScoreOf = (event: RecordedLeadRescored): AutomaticScore => ({
  score: event.data.score,
  scoreRulesVersion: event.data.rulesVersion,
  scoreBreakdown: event.data.breakdown,
  scoredAt: utcInstant(event.metadata.occurredAt),
  scorePosition: event.position,
});

const neverCaptured = (event: RecordedLeadRescored): Error => new Error(`Lead ${event.data.leadId} has a ${event.type} but was never captured`);

const capturedView = (id: string, capturedAt: string, capturedBy: string): LeadView => ({
  id,
  revision: 0,
  status: 'NEW',
  rank: 'UNRANKED',
  source: 'OTHER',
  campaign: null,
  person: null,
  company: null,
  interest: null,
  ownerId: null,
  cycle: 1,
  contactAttempts: 0,
  lastContactedAt: null,
  lastContactOutcome: null,
  criteria: null,
  qualificationNotes: null,
  qualifiedAt: null,
  disqualificationReason: null,
  disqualificationNotes: null,
  disqualifiedAt: null,
  contactsBy: {},
  quoteRequests: 0,
  score: null,
  scoreRulesVersion: null,
  scoreBreakdown: null,
  scoredAt: null,
  scorePosition: null,
  conversion: null,
  contactId: null,
  capturedAt,
  updatedAt: capturedAt,
  capturedBy,
  personalDataErased: false,
});

const toLeadState = (view: LeadView): LeadState => ({
  status: view.status,
  leadId: view.id,
  source: view.source,
  campaign: view.campaign ?? undefined,
  person: view.person ?? undefined,
  company: view.company ?? undefined,
  interest: view.interest ?? undefined,
  ownerId: view.ownerId ?? undefined,
  rank: view.rank,
  criteria: view.criteria ?? undefined,
  cycle: view.cycle,
  contactAttempts: view.contactAttempts,
  contactsBy: view.contactsBy,
  quoteRequests: view.quoteRequests,
  score:
    view.score === null || view.scoreRulesVersion === null
      ? undefined
      : { value: view.score, rulesVersion: view.scoreRulesVersion },
  disqualificationReason: view.disqualificationReason ?? undefined,
  contactId: view.contactId ?? undefined,
});

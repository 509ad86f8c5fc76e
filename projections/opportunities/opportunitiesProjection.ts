/**
 * The opportunities read model: one row per opportunity in `read_opportunities`, its quotes,
 * activities and the stages it went through (with the business time it entered and left each,
 * from the events' occurredAt). Money stays decimal text in the rows and is summed in BigInt
 * (`src/domain/opportunities/money.ts`), never by SQL SUM, which would use floats on text.
 * The finders are in `opportunitiesQueries.ts`.
 */
import { utcInstant } from '../../src/core/eventTimes';
import type { RecordedEvent } from '../../src/core/eventStore';
import type { Money } from '../../src/domain/values';
import type { ActivityKind, OpportunityEvent, OpportunityStatus, QuoteStatus } from '../../src/domain/opportunities/events';
import { OPPORTUNITY_EVENT_TYPES } from '../../src/domain/opportunities/opportunity';
import { carriesErasedPersonalData, erasedPeople, PERSONAL_DATA_ERASED, placeholders } from '../personalData';
import type { Projection } from '../projection';
import type { SqlDatabase } from '../sqlDatabase';

export interface OpportunityView {
  id: string;
  /** Stream revision of the last event applied: the expected revision for the next command. */
  revision: number;
  status: OpportunityStatus;
  accountId: string;
  contactId: string | null;
  name: string;
  /** The final amount once won. */
  amount: Money | null;
  /** YYYY-MM-DD */
  expectedCloseDate: string | null;
  stage: string;
  probability: number;
  ownerId: string | null;
  fromLeadId: string | null;
  /** Business times (the events' occurredAt), as UTC ISO-8601. */
  openedAt: string;
  openedBy: string;
  updatedAt: string;
  stageEnteredAt: string;
  closedAt: string | null;
  closeNotes: string | null;
  lossReason: string | null;
  competitor: string | null;
  reopenedAt: string | null;
  reopenReason: string | null;
  /**
   * True once the personal data of its contact or of the lead it came from was erased (GDPR
   * art. 17): the close notes, and its quotes' descriptions and activities' subjects and notes, read null.
   */
  personalDataErased: boolean;
}

export interface QuoteView {
  id: string;
  opportunityId: string;
  amount: Money;
  validUntil: string | null;
  description: string | null;
  status: QuoteStatus;
  addedAt: string;
  addedBy: string;
  statusChangedAt: string;
}

export interface ActivityView {
  id: string;
  opportunityId: string;
  kind: ActivityKind;
  /** Null only once the person's data was erased. */
  subject: string | null;
  dueAt: string | null;
  notes: string | null;
  done: boolean;
  completedAt: string | null;
  completionNotes: string | null;
  scheduledAt: string;
  scheduledBy: string;
}

/** One stay at a stage; a close ends the stay, a reopen starts a new one. */
export interface StageVisitView {
  stage: string;
  probability: number;
  enteredAt: string;
  /** Null while the opportunity is open at this stage. */
  leftAt: string | null;
}

// The pipeline report reads the stage, amount, currency and probability of every open
// opportunity: read_opportunities_open_pipeline holds them, so it reads the index alone (4 ms
// instead of 17 ms for 4,300 open opportunities of a million-event history). It replaces the
// (status, stage) index, its prefix.
const CREATE_TABLES = `
  CREATE TABLE IF NOT EXISTS read_opportunities (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,
    account_id TEXT NOT NULL,
    contact_id TEXT,
    name TEXT NOT NULL,
    amount TEXT,
    currency TEXT,
    expected_close_date TEXT,
    stage TEXT NOT NULL,
    probability INTEGER NOT NULL,
    owner_id TEXT,
    from_lead_id TEXT,
    opened_at TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    stage_entered_at TEXT NOT NULL,
    closed_at TEXT,
    close_notes TEXT,
    loss_reason TEXT,
    competitor TEXT,
    reopened_at TEXT,
    reopen_reason TEXT,
    personal_data_erased INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX IF NOT EXISTS read_opportunities_by_open ON read_opportunities (opened_at, id);
  DROP INDEX IF EXISTS read_opportunities_by_status;
  CREATE INDEX IF NOT EXISTS read_opportunities_open_pipeline ON read_opportunities (status, stage, currency, probability, amount);
  CREATE INDEX IF NOT EXISTS read_opportunities_by_account ON read_opportunities (account_id, opened_at);
  CREATE INDEX IF NOT EXISTS read_opportunities_by_owner ON read_opportunities (owner_id, opened_at);
  CREATE TABLE IF NOT EXISTS read_opportunity_quotes (
    opportunity_id TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    valid_until TEXT,
    description TEXT,
    status TEXT NOT NULL,
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL,
    status_changed_at TEXT NOT NULL,
    PRIMARY KEY (opportunity_id, id)
  );
  CREATE TABLE IF NOT EXISTS read_opportunity_activities (
    opportunity_id TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT,
    due_at TEXT,
    notes TEXT,
    done INTEGER NOT NULL,
    completed_at TEXT,
    completion_notes TEXT,
    scheduled_at TEXT NOT NULL,
    scheduled_by TEXT NOT NULL,
    PRIMARY KEY (opportunity_id, id)
  );
  CREATE TABLE IF NOT EXISTS read_opportunity_stage_history (
    opportunity_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    stage TEXT NOT NULL,
    probability INTEGER NOT NULL,
    entered_at TEXT NOT NULL,
    left_at TEXT,
    PRIMARY KEY (opportunity_id, seq)
  );`;

const TABLES = [
  'read_opportunities',
  'read_opportunity_quotes',
  'read_opportunity_activities',
  'read_opportunity_stage_history',
];

type RecordedOpportunityEvent = OpportunityEvent & Pick<RecordedEvent, 'revision' | 'metadata'>;

export const opportunitiesProjection: Projection = {
  name: 'opportunities',
  // 2: personal data erasure (personal_data_erased, activity subject nullable, erased events' null fields taken in).
  version: 2,
  rebuildsInBulk: true,
  rebuildWeight: 4.6,
  // An opportunity's row is found by its id (the key); these indexes serve the lists.
  deferredIndexes: ['read_opportunities_by_account', 'read_opportunities_by_open', 'read_opportunities_by_owner', 'read_opportunities_open_pipeline'],
  canHandle: [...OPPORTUNITY_EVENT_TYPES, PERSONAL_DATA_ERASED],
  setup: (db) => db.exec(CREATE_TABLES),
  reset: (db) => db.exec(TABLES.map((table) => `DROP TABLE IF EXISTS ${table};`).join('\n')),
  async apply(tx, recorded) {
    if (recorded.type === PERSONAL_DATA_ERASED) return eraseOpportunities(tx, erasedPeople(recorded));
    const event = recorded as RecordedOpportunityEvent;
    const id = event.data.opportunityId;
    const current = await tx.get<{ revision: number }>(SELECT_REVISION, [id]);
    const at = await applyUnlessApplied(tx, event, current && Number(current.revision));
    if (at !== undefined) await tx.run(UPDATE_REVISION, [event.revision, at, id]);
  },
  /**
   * A rebuild's fold: the same statements for each event, but an opportunity's revision is read
   * once and then kept here, and written with its time once, not at every event. The insights
   * history has 354,639 opportunity events on 28,264 opportunities: those were as many reads and
   * updates of the row, 2.4 s of a replay's longest part.
   */
  foldInMemory() {
    const held = new Map<string, { revision: number; updatedAt: string }>();
    return {
      async apply(tx, recorded) {
        if (recorded.type === PERSONAL_DATA_ERASED) return eraseOpportunities(tx, erasedPeople(recorded));
        const event = recorded as RecordedOpportunityEvent;
        const id = event.data.opportunityId;
        let revision = held.get(id)?.revision;
        if (revision === undefined) {
          const current = await tx.get<{ revision: number }>(SELECT_REVISION, [id]);
          revision = current && Number(current.revision);
        }
        const at = await applyUnlessApplied(tx, event, revision);
        if (at !== undefined) held.set(id, { revision: event.revision, updatedAt: at });
      },
      async flush(tx, everything) {
        if (!everything && held.size < MAX_HELD_OPPORTUNITIES) return;
        for (const [id, { revision, updatedAt }] of held) await tx.run(UPDATE_REVISION, [revision, updatedAt, id]);
        held.clear();
      },
    };
  },
};

const SELECT_REVISION = 'SELECT revision FROM read_opportunities WHERE id = ?';
const UPDATE_REVISION = 'UPDATE read_opportunities SET revision = ?, updated_at = ? WHERE id = ?';
/** Opportunities whose revision a rebuild's fold keeps before writing them: a few bytes each. */
const MAX_HELD_OPPORTUNITIES = 50_000;

/**
 * The event applied to the opportunity's rows, its revision and time apart, unless the row shows
 * it applied already (`revision`: the row's, undefined while there is none). Returns the event's
 * time when applied, for the row's `updated_at`.
 */
const applyUnlessApplied = async (tx: SqlDatabase, event: RecordedOpportunityEvent, revision: number | undefined): Promise<string | undefined> => {
  // Every event moves the row's revision, so this one check keeps the child tables idempotent too.
  if (revision !== undefined && revision >= event.revision) return undefined;
  if (revision === undefined && event.type !== 'OpportunityOpened') {
    throw new Error(`Opportunity ${event.data.opportunityId} has a ${event.type} but was never opened`);
  }
  const at = utcInstant(event.metadata.occurredAt);
  await applyEvent(tx, event, at, event.metadata.actor);
  // An event read after the erasure (a rebuild, time travel) says so itself.
  if (carriesErasedPersonalData(event)) await tx.run('UPDATE read_opportunities SET personal_data_erased = 1 WHERE id = ?', [event.data.opportunityId]);
  return at;
};

/**
 * The opportunities about the erased people (opened for one of the contacts, or converted from
 * one of the leads) lose every personal column, in their quotes and activities too. None of the
 * columns kept is derived from those, so the rows are what a rebuild gives, whose events read
 * those fields null. Revisions and times stay: an erasure is no opportunity event.
 */
const eraseOpportunities = async (tx: SqlDatabase, people: { leadIds: string[]; contactIds: string[] }): Promise<void> => {
  const { contactIds, leadIds } = people;
  if (contactIds.length + leadIds.length === 0) return;
  const rows = await tx.all<{ id: string }>(
    `SELECT id FROM read_opportunities WHERE contact_id IN (${placeholders(contactIds)}) OR from_lead_id IN (${placeholders(leadIds)})`,
    [...contactIds, ...leadIds],
  );
  const ids = rows.map((row) => row.id);
  if (ids.length === 0) return;
  const of = `(${placeholders(ids)})`;
  await tx.run(`UPDATE read_opportunities SET close_notes = NULL, personal_data_erased = 1 WHERE id IN ${of}`, ids);
  await tx.run(`UPDATE read_opportunity_quotes SET description = NULL WHERE opportunity_id IN ${of}`, ids);
  await tx.run(
    `UPDATE read_opportunity_activities SET subject = NULL, notes = NULL, completion_notes = NULL WHERE opportunity_id IN ${of}`,
    ids,
  );
};

const applyEvent = async (tx: SqlDatabase, event: RecordedOpportunityEvent, at: string, actor: string) => {
  const id = event.data.opportunityId;
  const enterStage = (stage: string, probability: number) =>
    tx.run(
      `INSERT INTO read_opportunity_stage_history (opportunity_id, seq, stage, probability, entered_at)
       VALUES (?, ?, ?, ?, ?)`,
      [id, event.revision, stage, probability, at],
    );
  const leaveStage = () =>
    tx.run('UPDATE read_opportunity_stage_history SET left_at = ? WHERE opportunity_id = ? AND left_at IS NULL', [at, id]);

  switch (event.type) {
    case 'OpportunityOpened': {
      const d = event.data;
      await tx.run(
        `INSERT INTO read_opportunities (id, revision, status, account_id, contact_id, name, amount, currency,
           expected_close_date, stage, probability, owner_id, from_lead_id, opened_at, opened_by, updated_at,
           stage_entered_at)
         VALUES (?, ?, 'OPEN', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [id, event.revision, d.accountId, d.contactId ?? null, d.name, d.amount?.amount ?? null, d.amount?.currency ?? null,
          d.expectedCloseDate ?? null, d.stage, d.probability, d.ownerId ?? null, d.fromLeadId ?? null, at, actor, at, at],
      );
      await enterStage(d.stage, d.probability);
      break;
    }
    case 'OpportunityStageChanged':
      await tx.run('UPDATE read_opportunities SET stage = ?, probability = ?, stage_entered_at = ? WHERE id = ?', [
        event.data.toStage,
        event.data.probability,
        at,
        id,
      ]);
      await leaveStage();
      await enterStage(event.data.toStage, event.data.probability);
      break;
    case 'OpportunityDetailsUpdated': {
      const d = event.data;
      await tx.run(
        `UPDATE read_opportunities SET name = COALESCE(?, name), amount = COALESCE(?, amount),
           currency = COALESCE(?, currency), expected_close_date = COALESCE(?, expected_close_date),
           probability = COALESCE(?, probability), owner_id = COALESCE(?, owner_id) WHERE id = ?`,
        [d.name ?? null, d.amount?.amount ?? null, d.amount?.currency ?? null, d.expectedCloseDate ?? null,
          d.probability ?? null, d.ownerId ?? null, id],
      );
      break;
    }
    case 'QuoteAdded': {
      const d = event.data;
      await tx.run(
        `INSERT INTO read_opportunity_quotes (opportunity_id, id, seq, amount, currency, valid_until, description, status,
           added_at, added_by, status_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'DRAFT', ?, ?, ?)`,
        [id, d.quoteId, event.revision, d.amount.amount, d.amount.currency, d.validUntil ?? null, d.description ?? null,
          at, actor, at],
      );
      break;
    }
    case 'QuoteStatusChanged':
      await tx.run(
        'UPDATE read_opportunity_quotes SET status = ?, status_changed_at = ? WHERE opportunity_id = ? AND id = ?',
        [event.data.to, at, id, event.data.quoteId],
      );
      break;
    case 'ActivityScheduled': {
      const d = event.data;
      await tx.run(
        `INSERT INTO read_opportunity_activities (opportunity_id, id, seq, kind, subject, due_at, notes, done, scheduled_at,
           scheduled_by) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
        [id, d.activityId, event.revision, d.kind, d.subject ?? null, d.dueAt ? utcInstant(d.dueAt) : null,
          d.notes ?? null, at, actor],
      );
      break;
    }
    case 'ActivityCompleted':
      await tx.run(
        `UPDATE read_opportunity_activities SET done = 1, completed_at = ?, completion_notes = ?
         WHERE opportunity_id = ? AND id = ?`,
        [at, event.data.notes ?? null, id, event.data.activityId],
      );
      break;
    case 'ActivityReopened':
      await tx.run(
        `UPDATE read_opportunity_activities SET done = 0, completed_at = NULL, completion_notes = NULL
         WHERE opportunity_id = ? AND id = ?`,
        [id, event.data.activityId],
      );
      break;
    case 'OpportunityWon':
    case 'OpportunityLost': {
      const lost = event.type === 'OpportunityLost' ? event.data : undefined;
      const amount = event.data.amount;
      await tx.run(
        `UPDATE read_opportunities SET status = ?, amount = COALESCE(?, amount), currency = COALESCE(?, currency),
           closed_at = ?, close_notes = ?, loss_reason = ?, competitor = ? WHERE id = ?`,
        [lost ? 'LOST' : 'WON', amount?.amount ?? null, amount?.currency ?? null, at, event.data.notes ?? null,
          lost?.reason ?? null, lost?.competitor ?? null, id],
      );
      await leaveStage();
      break;
    }
    case 'OpportunityReopened': {
      const row = await tx.get<{ probability: number }>('SELECT probability FROM read_opportunities WHERE id = ?', [id]);
      await tx.run(
        `UPDATE read_opportunities SET status = 'OPEN', closed_at = NULL, close_notes = NULL, loss_reason = NULL,
           competitor = NULL, reopened_at = ?, reopen_reason = ?, stage = ?, stage_entered_at = ? WHERE id = ?`,
        [at, event.data.reason, event.data.stage, at, id],
      );
      await enterStage(event.data.stage, Number(row!.probability));
      break;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Queries

/**
 * Hands a lead list to the sales team: the plan (who gets which lead) is decided once and
 * recorded on the list (`LeadListAssigned`), then each lead is assigned by its own command,
 * caused by that event. A run cut short (a crash, a timeout) is finished by sending the same
 * request again with the same idempotency key: the plan is the recorded one, leads already
 * assigned are replays that write nothing, and the rest are done.
 */
import { findLeads, type LeadFilter } from '../../projections/leads/leadsQueries';
import type { SqlDatabase } from '../../projections/sqlDatabase';
import { handleCommand, readStreamOrEmpty, type CommandContext } from '../core/commandHandler';
import { foldEvents, type Decider } from '../core/decider';
import { InvalidTransitionError, NotFoundError, ValidationError } from '../core/errors';
import type { EventStore, GlobalPosition } from '../core/eventStore';
import type { LeadCommand } from '../domain/leads/decide';
import type { LeadEvent, LeadState } from '../domain/leads/lead';
import { deterministicId } from '../core/ids';
import type { ListLead } from '../domain/leadLists/assignment';
import { createLeadListDecider } from '../domain/leadLists/decide';
import { leadListStreamId, type AssignmentStrategy, type LeadListAssigned, type LeadListEvent } from '../domain/leadLists/events';
import { leadStreamId } from '../domain/leads/lead';

/** The most leads one assignment deals out: a bigger list is split (a filter on the list). */
export const MAX_LEADS_PER_ASSIGNMENT = 5_000;
const OPEN_STATUSES = new Set(['NEW', 'CONTACTED', 'QUALIFIED']);
const PAGE = 500;

export const leadListDecider = createLeadListDecider();

export interface AssignLeadListRequest {
  listId: string;
  owners: string[];
  strategy: AssignmentStrategy;
  onlyUnassigned: boolean;
}

export interface AssignLeadListOutcome {
  planned: number;
  assigned: number;
  unchanged: number;
  skipped: number;
  leftOut: number;
  /** The position of the last event written, to wait for the read models. */
  lastPosition?: GlobalPosition;
}

/** What an assignment uses of the application. */
export interface AssignmentDependencies {
  store: EventStore;
  readDb: SqlDatabase;
  leadDecider: Decider<LeadState, LeadCommand, LeadEvent>;
}

export const assignLeadList = async (
  app: AssignmentDependencies,
  context: CommandContext,
  request: AssignLeadListRequest,
  options: { authorizeList?: (listId: string) => void } = {},
): Promise<AssignLeadListOutcome> => {
  const streamId = leadListStreamId(request.listId);
  const list = foldEvents(leadListDecider, (await readStreamOrEmpty(app.store, streamId)) as unknown as LeadListEvent[]);
  if (list.status === 'NONE') throw new NotFoundError('LeadList', request.listId);
  options.authorizeList?.(request.listId);
  const leads =
    list.kind === 'STATIC' ? await leadsByIds(app.readDb, [...list.leadIds]) : await leadsMatching(app.readDb, { ...list.filter });
  const loads = request.strategy === 'LEAST_LOADED' ? await openLeadLoads(app.readDb, request.owners) : undefined;

  const listResult = await handleCommand(
    app.store,
    leadListDecider,
    streamId,
    { type: 'AssignLeadList', data: { ...request, leads, loads } },
    context,
    { existingEntity: { type: 'LeadList', id: request.listId } },
  );
  // A replay of an earlier run wrote nothing: its plan is the one on the stream.
  const isPlan = (event: { type: string }) => event.type === 'LeadListAssigned';
  const plan = listResult.replayed
    ? (await app.store.readStream(streamId)).find((event) => isPlan(event) && event.metadata.causationId === context.commandId)
    : listResult.newEvents.find(isPlan);
  if (!plan) throw new Error(`The assignment of lead list ${request.listId} is not on its stream`);
  const { assignments, leftOut } = (plan as unknown as LeadListAssigned).data;

  const outcome: AssignLeadListOutcome = { planned: assignments.length, assigned: 0, unchanged: 0, skipped: 0, leftOut };
  let last = listResult.position;
  for (const { leadId, ownerId } of assignments) {
    try {
      const result = await handleCommand(
        app.store,
        app.leadDecider,
        leadStreamId(leadId),
        { type: 'AssignLead', data: { leadId, ownerId } },
        {
          ...context,
          commandId: deterministicId(plan.id, leadId),
          commandType: 'AssignLead',
          causationId: plan.id,
          idempotencyKey: undefined,
          inputHash: undefined,
        },
        { existingEntity: { type: 'Lead', id: leadId } },
      );
      const changed = result.replayed || result.newEvents.length > 0;
      outcome[changed ? 'assigned' : 'unchanged']++;
      if (result.newEvents.length > 0 && result.position !== undefined) last = result.position;
    } catch (error) {
      // Converted or disqualified since the plan was made: no longer assignable.
      if (!(error instanceof InvalidTransitionError || error instanceof NotFoundError)) throw error;
      outcome.skipped++;
    }
  }
  return { ...outcome, lastPosition: last };
};

interface LeadOwnerRow {
  id: string;
  status: string;
  owner_id: string | null;
}

const toListLead = (row: LeadOwnerRow): ListLead => ({
  leadId: row.id,
  open: OPEN_STATUSES.has(row.status),
  ...(row.owner_id === null ? {} : { ownerId: row.owner_id }),
});

/** A static list's leads as the read model has them, in the list's order; unknown ids are left out. */
const leadsByIds = async (db: SqlDatabase, ids: string[]): Promise<ListLead[]> => {
  requireAssignable(ids.length);
  const byId = new Map<string, ListLead>();
  for (let start = 0; start < ids.length; start += PAGE) {
    const chunk = ids.slice(start, start + PAGE);
    const rows = await db.all<LeadOwnerRow>(
      `SELECT id, status, owner_id FROM read_leads WHERE id IN (${chunk.map(() => '?').join(', ')})`,
      chunk,
    );
    for (const row of rows) byId.set(row.id, toListLead(row));
  }
  return ids.flatMap((id) => byId.get(id) ?? []);
};

/** The leads a dynamic list's filter matches now, oldest capture first. */
const leadsMatching = async (db: SqlDatabase, filter: LeadFilter): Promise<ListLead[]> => {
  const found: ListLead[] = [];
  for (let after: string | undefined; ; ) {
    const page = await findLeads(db, { filter, first: PAGE, after });
    requireAssignable(page.totalCount);
    found.push(...page.nodes.map((view) => ({ leadId: view.id, open: OPEN_STATUSES.has(view.status), ...(view.ownerId ? { ownerId: view.ownerId } : {}) })));
    if (!page.hasNextPage) break;
    after = page.endCursor;
  }
  return found.reverse();
};

const openLeadLoads = async (db: SqlDatabase, owners: readonly string[]): Promise<Map<string, number>> => {
  if (owners.length === 0) return new Map();
  const rows = await db.all<{ owner_id: string; open: number }>(
    `SELECT owner_id, CAST(COUNT(*) AS INTEGER) AS open FROM read_leads
     WHERE status IN ('NEW', 'CONTACTED', 'QUALIFIED') AND owner_id IN (${owners.map(() => '?').join(', ')})
     GROUP BY owner_id`,
    [...owners],
  );
  return new Map(rows.map((row) => [row.owner_id, Number(row.open)]));
};

const requireAssignable = (count: number): void => {
  if (count > MAX_LEADS_PER_ASSIGNMENT) {
    throw new ValidationError([
      { field: 'listId', message: `the list has ${count} leads; one assignment deals out at most ${MAX_LEADS_PER_ASSIGNMENT}` },
    ]);
  }
};

/**
 * Finders over the leads read model (`leadsProjection.ts` keeps the table): filtered pages in
 * capture or score order, and the leads a scoring run may touch.
 */
import { NotFoundError, ValidationError } from '../../src/core/errors';
import { getLeadList, memberOfListCondition } from '../leadLists/leadListsProjection';
import { searchKey } from '../../src/core/normalize';
import type { SavedLeadFilter } from '../../src/domain/leadLists/events';
import {
  decodeCursor,
  DEFAULT_PAGE_SIZE,
  encodeCursor,
  givenFields,
  pageDatabase,
  rowsAndCount,
  whereClause,
  type Conditions,
  type Page,
} from '../pagination';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';
import type { ReportCache } from '../reportCache';
import type { SearchBy } from '../searchIndex';
import { LEAD_SEARCH } from './leadSearch';
import { fromRow, UNSCORED_ORDER, VIEW_COLUMNS, type LeadRow, type LeadView } from './leadView';

/**
 * The fields a client filters leads by (the same a dynamic lead list saves: status, rank, source,
 * campaign, owner, `search` — case- and accent-insensitive on names, e-mail and company — and
 * `minScore`, which leaves unscored leads out), and two more.
 */
export interface LeadFilter extends SavedLeadFilter {
  /** Only the leads of this list: those put into a static list, those a dynamic list's filter matches. */
  listId?: string;
  /** One lead, if it matches the rest: whether a change notification concerns a subscriber. */
  id?: string;
}

/** NEWEST: latest capture first. SCORE: highest score first, unscored last, then latest capture. */
export type LeadOrder = 'NEWEST' | 'SCORE';

export type LeadPage = Page<LeadView>;

/** Ties are broken by capture time then id, descending, so pages stay stable as leads arrive. */
export const findLeads = async (
  db: SqlDatabase,
  options: { filter?: LeadFilter; first?: number; after?: string; orderBy?: LeadOrder; counts?: ReportCache } = {},
): Promise<LeadPage> => {
  const { filter = {}, first = DEFAULT_PAGE_SIZE, after, orderBy = 'NEWEST', counts } = options;
  if (!Number.isInteger(first) || first < 0) {
    throw new ValidationError([{ field: 'first', message: 'must be a whole number, 0 or more' }]);
  }
  const list = filter.listId === undefined ? undefined : await getLeadList(db, filter.listId);
  if (filter.listId !== undefined && !list) throw new NotFoundError('LeadList', filter.listId);
  // The filter's conditions, with a search matched one way or the other (see `SearchBy`).
  const filtered = (searchBy: SearchBy): { conditions: string[]; params: SqlValue[] } => {
    const conditions: string[] = [];
    const params: SqlValue[] = [];
    addFilterConditions(filter, conditions, params, searchBy, db.dialect);
    if (list?.kind === 'STATIC') {
      const member = memberOfListCondition(list.id);
      conditions.push(member.condition);
      params.push(...member.params);
    } else if (list) {
      addFilterConditions(list.filter ?? {}, conditions, params, searchBy, db.dialect);
    }
    return { conditions, params };
  };
  // One lead (a notification's check) is found by its key: no search index to ask.
  const indexed = filter.id === undefined;
  const counting = (on: SqlDatabase) => countLeads(on, filter, list, indexed ? filtered('index') : filtered('scan'));
  const searched = searchKey(filter.search ?? '') !== '' || searchKey(list?.filter?.search ?? '') !== '';
  const cursor = after === undefined ? undefined : decodeLeadCursor(after, orderBy);
  const order = orderBy === 'SCORE' ? 'score_order DESC, captured_at DESC, id DESC' : 'captured_at DESC, id DESC';
  const afterCursor = cursor && leadsAfter(cursor);
  // With `counts`, a page an index does not give in its order is read where reports are (on
  // SQLite, the report thread): to fill a page it may pass over most of the leads.
  const given = givenFields(filter).filter((field) => field !== 'search' || searchKey(filter.search ?? '') !== '');
  const pageDb = pageDatabase(db, counts, given, orderBy === 'SCORE' ? SERVED_BY_SCORE : SERVED_NEWEST_FIRST);
  // A page read where reports are read (on PostgreSQL every page; on SQLite one no index serves,
  // on the report thread) is remembered as a report: the same page asked again reads nothing
  // until a table its statement named (the leads, a list's members, a search index) has a commit.
  // Under 20 readers and 10 writers on PostgreSQL, each leads query sent its statement every time:
  // 3,192 of the 5,617 statements of the API in 10 s (goal 4 of issue 11; bench/readersUnderWrites.ts).
  const remembered = counts !== undefined && pageDb === counts.db ? counts : undefined;
  const pageRequest = { filter, list: list && { id: list.id, kind: list.kind, filter: list.filter }, first, after, orderBy };
  const readPage = (searchBy: SearchBy) => {
    const { conditions, params } = filtered(searchBy);
    const read = (on: SqlDatabase) =>
      on.all<LeadRow>(
        `SELECT ${VIEW_COLUMNS} FROM read_leads ${whereClause([...conditions, ...(afterCursor?.conditions ?? [])])} ORDER BY ${order} LIMIT ?`,
        [...params, ...(afterCursor?.params ?? []), first + 1],
      );
    return remembered ? remembered.report('leadSearchPage', { ...pageRequest, searchBy }, read, ONLY_PAGES_ASKED_AGAIN) : read(pageDb);
  };
  let total: number;
  let rows: LeadRow[];
  if (searched) {
    // A search's count is most of its cost (3 ms of the 4 in PostgreSQL for "garcia" among 114,000
    // leads), the same for every page of it: with `counts`, remembered until the leads change.
    const request = { filter, list: pageRequest.list };
    total = counts !== undefined ? await counts.report('leadCount', request, counting) : await counting(db);
    // A page of a search with many matches scans the leads in the page's order and stops at its
    // last row; one with few sorts the matches the index gives (see `FEW_MATCHES`).
    rows = await readPage(indexed && total <= FEW_MATCHES ? 'index' : 'scan');
  } else {
    // Without a search the page does not depend on the count: both are one statement (and the
    // filter's conditions are the same whichever way a search would be matched).
    const pageAndCount = (on: SqlDatabase, countsApart: ReportCache | undefined) =>
      rowsAndCount<LeadRow>(on, {
        table: 'read_leads',
        columns: VIEW_COLUMNS,
        filter: filtered('index'),
        cursor: afterCursor,
        orderBy: order,
        limit: first + 1,
      }, countsApart);
    // Remembered, the page and its count are one statement, and one report.
    ({ rows, total } = remembered
      ? await remembered.report('leadPage', pageRequest, (on) => pageAndCount(on, undefined), ONLY_PAGES_ASKED_AGAIN)
      : await pageAndCount(pageDb, counts));
  }
  const nodes = rows.slice(0, first).map(fromRow);
  const cursors = nodes.map((node) => encodeLeadCursor(node, orderBy));
  return {
    nodes,
    totalCount: total,
    hasNextPage: rows.length > first,
    endCursor: cursors.at(-1),
    cursors,
  };
};

/**
 * A page is kept only once asked again: a dashboard asks the same pages over and over, while a
 * client paging through a list asks each page once. Kept at their first ask, a page from a new
 * cursor at every ask (the insights bench's search "computed each time") filled the report cache
 * with lead rows, and the API's resident memory rose from 212 to 254 MiB, then 309 under writes.
 */
const ONLY_PAGES_ASKED_AGAIN = { keep: 'askedAgain' } as const;

/**
 * The conditions an index of `read_leads` (leadsProjection.ts) serves in a page's order
 * (`pageDatabase`): newest first, none, a status, an owner or both (`read_leads_by_capture_searchable`,
 * `_by_status`, `_by_owner`, `_by_owner_status`); by score, none (`read_leads_by_score`). Any other
 * (a campaign, a source, a score, a list, a search) is tested lead after lead: on the insights
 * history a campaign of one lead took 214 ms, `minScore: 95` 209 ms.
 */
const SERVED_NEWEST_FIRST = [[], ['status'], ['ownerId'], ['status', 'ownerId']];
const SERVED_BY_SCORE = [[]];

/**
 * Up to this many matches, a page of a search is sorted from the index's matches; past it, the
 * leads are scanned in the page's order until the page is full. On the insights data set (114,000
 * leads) sorting cost about 2 µs per match and scanning about 0.13 µs per lead passed over, so a
 * page of 21 costs the same both ways near 400 matches: 15 ms to scan past every lead when none
 * matches, 33 ms to sort 16,000 matches.
 */
const FEW_MATCHES = 400;

/** How many leads the filter matches; a search alone is counted in the search index alone. */
const countLeads = async (
  db: SqlDatabase,
  filter: LeadFilter,
  list: Awaited<ReturnType<typeof getLeadList>>,
  { conditions, params }: { conditions: string[]; params: SqlValue[] },
): Promise<number> => {
  const searchAlone =
    list === undefined &&
    Object.entries(filter).every(([field, value]) => value === undefined || field === 'search');
  const search = searchKey(filter.search ?? '');
  if (searchAlone && search !== '') {
    const counted = await LEAD_SEARCH.count(db, search);
    if (counted !== undefined) return counted;
  }
  const row = await db.get<{ total: number }>(`SELECT CAST(COUNT(*) AS INTEGER) AS total FROM read_leads ${whereClause(conditions)}`, params);
  return Number(row?.total ?? 0);
};

/**
 * Every lead list's leads now, as one SQL relation of (list_id, lead_id) rows to join: a static
 * list's members, and for each dynamic list (archived ones too) the leads its filter matches,
 * by the conditions `findLeads` uses for `{ listId }`, so a list holds the same leads here as in
 * `leadList.leads`. What `kpis(groupBy: LIST)` cuts facts by.
 */
export const leadListMembers = async (db: SqlDatabase): Promise<{ sql: string; params: SqlValue[] }> => {
  const dynamic = await db.all<{ id: string; filter: string | null }>(
    `SELECT id, filter FROM read_lead_lists WHERE kind = 'DYNAMIC' ORDER BY id`,
  );
  const parts = ['SELECT list_id, lead_id FROM read_lead_list_members'];
  const params: SqlValue[] = [];
  for (const list of dynamic) {
    const conditions: string[] = [];
    const filterParams: SqlValue[] = [];
    addFilterConditions(list.filter === null ? {} : (JSON.parse(list.filter) as SavedLeadFilter), conditions, filterParams, 'index', db.dialect);
    parts.push(`SELECT CAST(? AS TEXT) AS list_id, id AS lead_id FROM read_leads ${whereClause(conditions)}`);
    params.push(list.id, ...filterParams);
  }
  return { sql: parts.join(' UNION ALL '), params };
};

/** The lists each lead is in now, by list id (`leadListMembers`); a lead in none is absent. */
export const listsOfLeads = async (db: SqlDatabase): Promise<Map<string, string[]>> => {
  const members = await leadListMembers(db);
  const rows = await db.all<{ list_id: string; lead_id: string }>(
    `SELECT list_id, lead_id FROM (${members.sql}) m ORDER BY lead_id, list_id`,
    members.params,
  );
  const lists = new Map<string, string[]>();
  for (const { list_id: listId, lead_id: leadId } of rows) lists.set(leadId, [...(lists.get(leadId) ?? []), listId]);
  return lists;
};

/** The SQL conditions of a filter's fields (a list aside), ANDed onto `conditions`. */
const addFilterConditions = (
  filter: Omit<LeadFilter, 'listId'>,
  conditions: string[],
  params: SqlValue[],
  searchBy: SearchBy,
  dialect: SqlDatabase['dialect'],
): void => {
  const equalTo = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    conditions.push(`${column} = ?`);
    params.push(value);
  };
  equalTo('status', filter.status);
  equalTo('rank', filter.rank);
  equalTo('source', filter.source);
  equalTo('campaign', filter.campaign);
  equalTo('owner_id', filter.ownerId);
  equalTo('id', filter.id);
  const search = searchKey(filter.search ?? '');
  if (search !== '') {
    const matching = LEAD_SEARCH.condition(search, searchBy, dialect);
    conditions.push(matching.condition);
    params.push(...matching.params);
  }
  if (filter.minScore !== undefined) {
    conditions.push('score >= ?');
    params.push(filter.minScore);
  }
};

const WORKABLE = "status IN ('NEW', 'CONTACTED', 'QUALIFIED')";

/** Ids of the leads still being worked (not converted, not disqualified), by id, a page at a time. */
export const workableLeadIds = async (db: SqlDatabase, options: { after?: string; first: number }): Promise<string[]> => {
  const rows = await db.all<{ id: string }>(
    `SELECT id FROM read_leads WHERE ${WORKABLE} AND id > ? ORDER BY id LIMIT ?`,
    [options.after ?? '', options.first],
  );
  return rows.map((row) => row.id);
};

/** How many leads are still being worked: what a re-scoring job is about to go through. */
export const countWorkableLeads = async (db: SqlDatabase): Promise<number> =>
  Number((await db.get<{ total: number }>(`SELECT CAST(COUNT(*) AS INTEGER) AS total FROM read_leads WHERE ${WORKABLE}`))?.total ?? 0);


interface LeadCursor {
  capturedAt: string;
  id: string;
  /** Present in SCORE order only. */
  scoreOrder?: number;
}

const encodeLeadCursor = (lead: Pick<LeadView, 'capturedAt' | 'id' | 'score'>, orderBy: LeadOrder): string =>
  encodeCursor(orderBy === 'SCORE' ? [lead.score ?? UNSCORED_ORDER, lead.capturedAt, lead.id] : [lead.capturedAt, lead.id]);

/** The leads after a cursor, in its list's order. */
const leadsAfter = (cursor: LeadCursor): Conditions => {
  const newer = '(captured_at < ? OR (captured_at = ? AND id < ?))';
  return cursor.scoreOrder === undefined
    ? { conditions: [newer], params: [cursor.capturedAt, cursor.capturedAt, cursor.id] }
    : {
        conditions: [`(score_order < ? OR (score_order = ? AND ${newer}))`],
        params: [cursor.scoreOrder, cursor.scoreOrder, cursor.capturedAt, cursor.capturedAt, cursor.id],
      };
};

const decodeLeadCursor = (cursor: string, orderBy: LeadOrder): LeadCursor => {
  const message = 'is not a cursor of this list in this order';
  if (orderBy === 'SCORE') {
    const [scoreOrder, capturedAt, id] = decodeCursor(cursor, ['integer', 'string', 'string'], message);
    return { scoreOrder: scoreOrder as number, capturedAt: capturedAt as string, id: id as string };
  }
  const [capturedAt, id] = decodeCursor(cursor, ['string', 'string'], message);
  return { capturedAt: capturedAt as string, id: id as string };
};

/**
 * The accounts read model: one row per account in `read_accounts`, for the account detail, the
 * account list and duplicate lookups (by normalised name and company domain, both indexed).
 *
 * The status is derived: an account is a CUSTOMER while at least one of its opportunities stands
 * won, else a PROSPECT. `read_account_wins` keeps each opportunity's latest won/not-won outcome
 * (by the opportunity's stream revision, so a redelivered event changes nothing), and the
 * account's status is recomputed from it whenever it changes.
 */
import type { RecordedEvent } from '../../src/core/eventStore';
import { normalizeDomain, normalizeName, searchKey } from '../../src/core/normalize';
import { accountStatusFor, type AccountStatus } from '../../src/domain/accounts/account';
import type { AccountKind } from '../../src/domain/accounts/events';
import type { OpportunityReopened, OpportunityWon } from '../../src/domain/opportunities/events';
import type { Address } from '../../src/domain/values';
import { containing, findPageBySortKey, pageDatabase, type Page } from '../pagination';
import type { Projection } from '../projection';
import type { ReportCache } from '../reportCache';
import type { SqlDatabase, SqlValue } from '../sqlDatabase';
import { evolveAccountView, type AccountView, type RecordedAccountEvent } from './accountView';


type RecordedOutcomeEvent = (OpportunityWon | OpportunityReopened) & Pick<RecordedEvent, 'revision' | 'metadata'>;

const COLUMNS = [
  'id',
  'revision',
  'kind',
  'status',
  'name',
  'website',
  'domain',
  'phone',
  'industry',
  'size',
  'address',
  'owner_id',
  'from_lead_id',
  'created_at',
  'updated_at',
  'created_by',
  'normalized_name',
  'sort_key',
  'search_text',
] as const;

type AccountRow = Record<(typeof COLUMNS)[number], SqlValue>;

const CREATE_TABLES = `
  CREATE TABLE IF NOT EXISTS read_accounts (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    name TEXT NOT NULL,
    website TEXT,
    domain TEXT,
    phone TEXT,
    industry TEXT,
    size TEXT,
    address TEXT,
    owner_id TEXT,
    from_lead_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    normalized_name TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    search_text TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS read_accounts_by_name ON read_accounts (sort_key, id);
  CREATE INDEX IF NOT EXISTS read_accounts_by_normalized_name ON read_accounts (normalized_name);
  CREATE INDEX IF NOT EXISTS read_accounts_by_domain ON read_accounts (domain);
  CREATE INDEX IF NOT EXISTS read_accounts_by_status ON read_accounts (status, sort_key, id);
  CREATE INDEX IF NOT EXISTS read_accounts_by_owner ON read_accounts (owner_id, sort_key, id);
  CREATE TABLE IF NOT EXISTS read_account_wins (
    opportunity_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    won INTEGER NOT NULL,
    revision INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS read_account_wins_by_account ON read_account_wins (account_id, won);`;

const UPSERT_ACCOUNT = `
  INSERT INTO read_accounts (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (id) DO UPDATE SET ${COLUMNS.slice(1)
    .map((column) => `${column} = excluded.${column}`)
    .join(', ')}
  WHERE read_accounts.revision < excluded.revision`;

const UPSERT_OUTCOME = `
  INSERT INTO read_account_wins (opportunity_id, account_id, won, revision) VALUES (?, ?, ?, ?)
  ON CONFLICT (opportunity_id) DO UPDATE SET
    account_id = excluded.account_id, won = excluded.won, revision = excluded.revision
  WHERE read_account_wins.revision < excluded.revision`;

const COUNT_WINS = 'SELECT CAST(COUNT(*) AS INTEGER) AS wins FROM read_account_wins WHERE account_id = ? AND won = 1';

export const accountsProjection: Projection = {
  name: 'accounts',
  version: 1,
  rebuildsInBulk: true,
  rebuildWeight: 0.3,
  readsPersonalData: false,
  canHandle: ['AccountOpened', 'AccountUpdated', 'OpportunityWon', 'OpportunityReopened'],
  setup: (db) => db.exec(CREATE_TABLES),
  reset: (db) => db.exec('DROP TABLE IF EXISTS read_accounts; DROP TABLE IF EXISTS read_account_wins'),
  async apply(tx, event) {
    if (event.type === 'OpportunityWon' || event.type === 'OpportunityReopened') {
      return applyOutcome(tx, event as RecordedOutcomeEvent);
    }
    const accountEvent = event as RecordedAccountEvent;
    const current = await getAccount(tx, accountEvent.data.accountId);
    if (current !== undefined && current.revision >= event.revision) return;
    const next = evolveAccountView(current, accountEvent, await derivedStatus(tx, accountEvent.data.accountId));
    const row = toRow(next);
    await tx.run(UPSERT_ACCOUNT, COLUMNS.map((column) => row[column]));
  },
};

const applyOutcome = async (tx: SqlDatabase, event: RecordedOutcomeEvent): Promise<void> => {
  // Reopening a lost opportunity changes no win.
  if (event.type === 'OpportunityReopened' && event.data.previousStatus !== 'WON') return;
  const { opportunityId, accountId } = event.data;
  const won = event.type === 'OpportunityWon' ? 1 : 0;
  await tx.run(UPSERT_OUTCOME, [opportunityId, accountId, won, event.revision]);
  await tx.run('UPDATE read_accounts SET status = ? WHERE id = ?', [await derivedStatus(tx, accountId), accountId]);
};

const derivedStatus = async (db: SqlDatabase, accountId: string): Promise<AccountStatus> =>
  accountStatusFor((await db.get<{ wins: number }>(COUNT_WINS, [accountId]))?.wins ?? 0);


// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

export const getAccount = async (db: SqlDatabase, id: string): Promise<AccountView | undefined> => {
  const row = await db.get<AccountRow>('SELECT * FROM read_accounts WHERE id = ?', [id]);
  return row && fromRow(row);
};

export interface AccountFilter {
  kind?: AccountKind;
  status?: AccountStatus;
  ownerId?: string;
  /** Case- and accent-insensitive, on the name, the website and its domain. */
  search?: string;
}

export type AccountPage = Page<AccountView>;

/** The conditions an index serves in name order (`pageDatabase`): none, a status, an owner. */
const ACCOUNT_PAGES_SERVED = [[], ['status'], ['owner_id']];

/** Alphabetical by name (case and accents ignored), ties broken by id. */
export const findAccounts = async (
  db: SqlDatabase,
  options: { filter?: AccountFilter; first?: number; after?: string; counts?: ReportCache } = {},
): Promise<AccountPage> => {
  const { filter = {} } = options;
  const conditions: string[] = [];
  const params: SqlValue[] = [];
  const given: string[] = [];
  for (const [column, value] of [
    ['kind', filter.kind],
    ['status', filter.status],
    ['owner_id', filter.ownerId],
  ] as const) {
    if (value === undefined) continue;
    conditions.push(`${column} = ?`);
    params.push(value);
    given.push(column);
  }
  const search = searchKey(filter.search ?? '');
  if (search !== '') {
    conditions.push(`search_text LIKE ? ESCAPE '\\'`);
    params.push(containing(search));
    given.push('search');
  }
  return findPageBySortKey<AccountRow, AccountView>(pageDatabase(db, options.counts, given, ACCOUNT_PAGES_SERVED), {
    table: 'read_accounts',
    conditions,
    params,
    first: options.first,
    after: options.after,
    fromRow,
    counts: options.counts,
  });
};

export interface AccountDuplicate extends AccountView {
  /** NAME when the normalised names are equal (even if the domain is too), else DOMAIN. */
  matchedOn: 'NAME' | 'DOMAIN';
}

/**
 * Accounts that are probably the company described: the same normalised name (see
 * `normalizeName`), or the same company domain as the website or the e-mail address given
 * (free-mail domains never count). Alphabetical.
 */
export const findAccountDuplicates = async (
  db: SqlDatabase,
  wanted: { name?: string; website?: string; email?: string },
): Promise<AccountDuplicate[]> => {
  const name = normalizeName(wanted.name ?? '');
  const domains = [...new Set([wanted.website, wanted.email].map((text) => text && normalizeDomain(text)))].filter(
    (domain): domain is string => Boolean(domain),
  );
  const conditions = [
    ...(name === '' ? [] : ['normalized_name = ?']),
    ...(domains.length === 0 ? [] : [`domain IN (${domains.map(() => '?').join(', ')})`]),
  ];
  if (conditions.length === 0) return [];
  const rows = await db.all<AccountRow>(
    `SELECT * FROM read_accounts WHERE ${conditions.join(' OR ')} ORDER BY sort_key, id`,
    [...(name === '' ? [] : [name]), ...domains],
  );
  return rows.map((row) => ({ ...fromRow(row), matchedOn: name !== '' && row.normalized_name === name ? 'NAME' : 'DOMAIN' }));
};

const toRow = (account: AccountView): AccountRow => ({
  id: account.id,
  revision: account.revision,
  kind: account.kind,
  status: account.status,
  name: account.name,
  website: account.website,
  domain: account.domain,
  phone: account.phone,
  industry: account.industry,
  size: account.size,
  address: account.address === null ? null : JSON.stringify(account.address),
  owner_id: account.ownerId,
  from_lead_id: account.fromLeadId,
  created_at: account.createdAt,
  updated_at: account.updatedAt,
  created_by: account.createdBy,
  normalized_name: normalizeName(account.name),
  sort_key: searchKey(account.name),
  search_text: [account.name, account.website ?? '', account.domain ?? ''].map(searchKey).join('\n'),
});

const fromRow = (row: AccountRow): AccountView => ({
  id: row.id as string,
  revision: Number(row.revision),
  kind: row.kind as AccountKind,
  status: row.status as AccountStatus,
  name: row.name as string,
  website: row.website as string | null,
  domain: row.domain as string | null,
  phone: row.phone as string | null,
  industry: row.industry as string | null,
  size: row.size as string | null,
  address: row.address === null ? null : (JSON.parse(String(row.address)) as Address),
  ownerId: row.owner_id as string | null,
  fromLeadId: row.from_lead_id as string | null,
  createdAt: row.created_at as string,
  updatedAt: row.updated_at as string,
  createdBy: row.created_by as string,
});
